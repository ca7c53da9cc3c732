"""The S3 backend of the object store: one botocore client per process and environment, s3transfer for parts.

Uploads are conditional writes (`If-None-Match: *`): the store itself refuses to replace an object, so no request
is spent asking first; a file sent in one request is checked by the ETag of the PUT's own response (its MD5), a
multipart one by a HEAD after it completed (size and part count; every part carried a checksum the store checked).
A store that does not implement conditional writes is detected on the first refusal and asked first instead.
Downloads are one streamed GET per object, hashed as the bytes arrive.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import MlregError
from ..masking import mask
from .failures import StoreErrors
from .stores import (
    ObjectInfo,
    ObjectStore,
    PendingUpload,
    Progress,
    Upload,
    endpoint,
    etag_matches,
    file_digests,
    multipart,
    part_size,
)

# A hung store (it accepts connections and never answers) fails a request after ATTEMPTS x READ_TIMEOUT plus a
# short backoff, under 20 s; botocore's defaults (60 s x 3) waited three minutes. The read timeout bounds the wait for
# each answer or chunk, not a whole transfer, so big files are not cut short. AWS_MAX_ATTEMPTS, if set, wins.
CONNECT_TIMEOUT, READ_TIMEOUT = 5, 8  # seconds
ATTEMPTS = 2  # botocore's attempts per request (standard retry mode)
COMPLETE_READ_TIMEOUT = 120  # completing a multipart upload: some stores (moto, others) answer only once the parts
# are assembled, which takes seconds per GiB; a retry after a timeout there fails (the first is still running)
PART_CONCURRENCY = 8  # parts of one file in flight at once
MULTIPART_FILES = 4  # files sent in parts at once (small files go alongside, up to uploads.WORKERS in all)
POOL = 64  # connections kept open: small files + big files x parts in flight
STREAM_BLOCK = 1 << 20
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_EXISTS = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


def _code(e: Exception) -> str:
    response = getattr(e, "response", None)  # botocore's ClientError (and its subclasses)
    return str(response and response.get("Error", {}).get("Code", "") or "")


class S3Store(ObjectStore):
    """Objects in S3-compatible buckets (AWS S3, MinIO, Ceph, R2)."""

    scheme = "s3"

    def __init__(self) -> None:
        self._client: Any = None
        self._transfer: Any = None
        self._lock = threading.Lock()
        self._buckets: set[str] = set()  # buckets known to exist
        self.conditional = True  # the store honours If-None-Match on writes
        self._big = threading.BoundedSemaphore(MULTIPART_FILES)

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    @property
    def transfer_client(self) -> Any:
        """The client s3transfer sends parts with: the store's client, with a patient one for the completion."""
        client = self.client
        with self._lock:
            if self._transfer is None:
                self._transfer = _PatientCompletion(client, self._make_client(COMPLETE_READ_TIMEOUT))
            return self._transfer

    def _make_client(self, read_timeout: float = READ_TIMEOUT) -> Any:
        try:
            import botocore.session  # heavy: only when an s3:// store is used
            from botocore.config import Config
        except ModuleNotFoundError:
            raise MlregError("an s3:// store needs boto3: pip install 'mlreg[s3]'") from None
        retries = (
            {"mode": "standard"}
            if os.environ.get("AWS_MAX_ATTEMPTS")
            else {"total_max_attempts": ATTEMPTS, "mode": "standard"}
        )
        config = Config(
            connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout, max_pool_connections=POOL, retries=retries
        )
        client = botocore.session.get_session().create_client("s3", endpoint_url=endpoint(), config=config)
        client.meta.events.register("before-parameter-build.s3.CompleteMultipartUpload", self._if_none_match)
        return client

    def _if_none_match(self, params: dict, **_: Any) -> None:
        """s3transfer completes multipart uploads for us: make that a conditional write too."""
        if self.conditional:
            params.setdefault("IfNoneMatch", "*")

    def where(self) -> str:
        return mask(endpoint() or "AWS S3")

    def errors(self, uri: str, action: str) -> StoreErrors:
        return _S3Errors(self, uri, action)

    @staticmethod
    def _split(uri: str) -> tuple[str, str]:
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bucket, key

    # -- reads ---------------------------------------------------------------------------
    def stat(self, uri: str) -> ObjectInfo | None:
        bucket, key = self._split(uri)
        with self.errors(uri, "read"):
            try:
                head = self.client.head_object(Bucket=bucket, Key=key)
            except Exception as e:
                if _code(e) not in _NOT_FOUND:
                    raise
                if bucket not in self._buckets:  # once per bucket: a missing bucket is not a missing object
                    self._check_bucket(bucket)
                    self._buckets.add(bucket)
                return None
        return _info(uri, head)

    def _check_bucket(self, bucket: str) -> None:
        try:
            self.client.head_bucket(Bucket=bucket)
        except Exception as e:
            if _code(e) in _NOT_FOUND or _code(e) == "NoSuchBucket":
                raise MlregError(
                    f"bucket {bucket!r} does not exist at {self.where()}; create it, or fix "
                    "artifacts.store in mlreg.yaml (or --store)"
                ) from None
            raise

    def listing(self, root: str) -> list[ObjectInfo]:
        bucket, key = self._split(root)
        prefix = key.rstrip("/") + "/" if key else ""
        with self.errors(root, "list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            return [
                ObjectInfo(
                    f"s3://{bucket}/{o['Key']}",
                    int(o["Size"]),
                    (o.get("ETag") or "").strip('"') or None,
                    mtime=o["LastModified"].timestamp() if o.get("LastModified") else None,
                )
                for page in pages
                for o in page.get("Contents", [])
            ]

    def pending_uploads(self, root: str) -> list[PendingUpload]:
        bucket, key = self._split(root)
        prefix = key.rstrip("/") + "/" if key else ""
        with self.errors(root, "list the multipart uploads under"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
            return [
                PendingUpload(
                    f"s3://{bucket}/{u['Key']}",
                    u["UploadId"],
                    u["Initiated"].timestamp() if u.get("Initiated") else None,
                )
                for page in pages
                for u in page.get("Uploads", [])
            ]

    def abort_uploads(self, pending: list[PendingUpload]) -> None:
        for p in pending:
            bucket, key = self._split(p.uri)
            with self.errors(p.uri, "abort the multipart upload of"):
                try:
                    self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=p.upload_id)
                except Exception as e:
                    if _code(e) != "NoSuchUpload":  # completed or aborted meanwhile
                        raise

    def download(self, uri: str, dest: Path, progress: Progress | None = None, limit: int | None = None) -> str:
        bucket, key = self._split(uri)
        sha = hashlib.sha256()
        left = None if limit is None else limit + 1  # one byte more than allowed: enough to see it is too big
        with self.errors(uri, "download"):
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            try:
                with open(dest, "wb") as out:
                    for block in body.iter_chunks(STREAM_BLOCK):
                        if left is not None:
                            block = block[:left]
                            left -= len(block)
                        out.write(block)
                        sha.update(block)
                        if progress:
                            progress(len(block))
                        if left == 0:
                            break
            finally:
                body.close()
        return sha.hexdigest()

    # -- writes --------------------------------------------------------------------------
    def put(self, up: Upload, progress: Progress | None = None) -> bool:
        if not self.conditional and self.stat(up.uri) is not None:
            return self._existing(up, hashed=False)
        bucket, key = self._split(up.uri)
        try:
            with self.errors(up.uri, "upload"):
                if multipart(up.size):
                    self._put_parts(up, bucket, key, progress)
                    have = self.stat(up.uri)
                    if have is None or have.size != up.size or not self._etag_ok(up, have):
                        raise self._mismatch(up, have)
                    return True
                return self._put_one(up, bucket, key, progress)
        except _Exists:
            return self._existing(up, hashed=True)
        except _NoConditionalWrites:
            self.conditional = False  # a store without conditional writes: ask first from now on
            return self.put(up, progress)

    def _put_one(self, up: Upload, bucket: str, key: str, progress: Progress | None) -> bool:
        """One PUT; the ETag in its response (the MD5 of what the store got) is the check."""
        data = up.local.read_bytes()
        up.size, up.sha256, up.md5 = len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
        match = {"IfNoneMatch": "*"} if self.conditional else {}
        resp = self._conditional_call(self.client.put_object, Bucket=bucket, Key=key, Body=data, **match)
        if progress:
            progress(up.size)
        have = _info(up.uri, resp, up.size)
        if not have.etag or have.encrypted:  # no MD5 to compare: ask for the size
            have = self.stat(up.uri) or have
        if not self._etag_ok(up, have) or have.size != up.size:
            raise self._mismatch(up, have)
        return True

    def _put_parts(self, up: Upload, bucket: str, key: str, progress: Progress | None) -> None:
        """A multipart upload through s3transfer (parts in parallel); the file is hashed while its parts travel."""
        from s3transfer.manager import TransferConfig, TransferManager

        size = part_size(up.size)
        config = TransferConfig(
            multipart_threshold=size, multipart_chunksize=size, max_request_concurrency=PART_CONCURRENCY
        )
        with self._big, TransferManager(self.transfer_client, config) as manager:
            future = manager.upload(str(up.local), bucket, key, subscribers=[_subscriber(progress)])
            up.sha256 = file_digests(up.local)[1]
            self._conditional_call(future.result)

    def _conditional_call(self, call: Any, **kwargs: Any) -> Any:
        try:
            return call(**kwargs)
        except Exception as e:
            if _code(e) in _EXISTS:
                raise _Exists() from None
            if _code(e) == "NotImplemented" and self.conditional:
                raise _NoConditionalWrites() from None
            raise

    def _etag_ok(self, up: Upload, have: ObjectInfo) -> bool:
        if have.encrypted or not have.etag:
            return True  # KMS/SSE-C ETags are not MD5s
        return etag_matches(have.etag, up.size, up.md5)

    def _existing(self, up: Upload, hashed: bool) -> bool:
        """An object already at the URI (an interrupted earlier register): keep it only if it is our bytes."""
        if not hashed:
            data = up.local.read_bytes() if not multipart(up.size) else None
            up.md5 = hashlib.md5(data).hexdigest() if data is not None else None
            up.sha256 = hashlib.sha256(data).hexdigest() if data is not None else file_digests(up.local)[1]
        have = self.stat(up.uri)
        if have is None:
            raise MlregError(f"{up.uri}: another upload to the same object is under way; rerun when it finished")
        if have.size != up.size:
            raise self._refuse(up)
        if up.md5 is not None and have.etag and not have.encrypted:
            same = have.etag == up.md5
        else:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="mlreg-check-") as tmp:
                same = self.download(up.uri, Path(tmp) / "object") == up.sha256
        if not same:
            raise self._refuse(up)
        return False

    def delete(self, uris: list[str]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for u in uris:
            bucket, key = self._split(u)
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
                batch = keys[i : i + 1000]
                with self.errors(f"s3://{bucket}/{batch[0]}", "delete"):
                    resp = self.client.delete_objects(
                        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                    )
                for err in resp.get("Errors", []):
                    raise MlregError(f"cannot delete s3://{bucket}/{err.get('Key')}: {err.get('Message')}")

    def read_note(self, uri: str) -> bytes | None:
        bucket, key = self._split(uri)
        with self.errors(uri, "read"):
            try:
                return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as e:
                if _code(e) not in _NOT_FOUND:
                    raise
                return None

    def write_note(self, uri: str, data: bytes) -> None:
        bucket, key = self._split(uri)
        with self.errors(uri, "write"):
            self.client.put_object(Bucket=bucket, Key=key, Body=data)


class _PatientCompletion:
    """Every call goes to the store's client except CompleteMultipartUpload, which waits COMPLETE_READ_TIMEOUT."""

    def __init__(self, client: Any, patient: Any):
        self._client = client
        self.complete_multipart_upload = patient.complete_multipart_upload

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _S3Errors(StoreErrors):
    """A store that accepted the connection but never answered gets its own message (how long mlreg waited)."""

    def __exit__(self, kind, e, tb) -> None:
        name = type(e).__name__ if e is not None else ""
        if name in ("ReadTimeoutError", "ConnectTimeoutError") or (
            isinstance(e, Exception) and "timeout" in name.lower() and not isinstance(e, MlregError)
        ):
            waited = READ_TIMEOUT if name != "ConnectTimeoutError" else CONNECT_TIMEOUT
            tries = os.environ.get("AWS_MAX_ATTEMPTS") or ATTEMPTS
            raise MlregError(
                f"the object store at {self.store.where()} did not answer within {waited} s (tried "
                f"{tries} times) to {self.action} {self.uri}; is it up and reachable? check "
                "AWS_ENDPOINT_URL (or MLFLOW_S3_ENDPOINT_URL), then rerun"
            ) from None
        return super().__exit__(kind, e, tb)


class _Exists(MlregError):
    """The store refused a conditional write: an object is already there (always caught by `put`)."""


class _NoConditionalWrites(MlregError):
    """The store does not implement If-None-Match on writes (always caught by `put`)."""


def _info(uri: str, resp: dict, size: int | None = None) -> ObjectInfo:
    """An ObjectInfo from a HEAD (or a PUT's response, with the size that was sent)."""
    return ObjectInfo(
        uri,
        int(resp["ContentLength"]) if size is None else size,
        resp.get("ETag", "").strip('"'),
        resp.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in resp,
        resp["LastModified"].timestamp() if resp.get("LastModified") else None,
    )


def _subscriber(progress: Progress | None) -> Any:
    from s3transfer.subscribers import BaseSubscriber

    class Forward(BaseSubscriber):
        def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
            if progress and bytes_transferred:
                progress(bytes_transferred)

    return Forward()
