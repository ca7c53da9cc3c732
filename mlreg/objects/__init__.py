"""Model files in object storage: the folder and S3 stores, uploads, gc, and the local cache."""
