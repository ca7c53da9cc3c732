"""Object storage for model files: an S3-compatible bucket (through boto3) or a folder (plain file operations).

No S3 protocol code lives here: boto3 (its client, and s3transfer for multipart uploads) does the talking. This
module adds what a registry needs on top: bounded retries and timeouts, one-line errors, uploads that never
overwrite other bytes (conditional writes) and are checked as they land, and downloads hashed on the way in.
Credentials and the endpoint come only from the environment (AWS_* variables, the AWS config and profiles;
MLFLOW_S3_ENDPOINT_URL as MLflow reads it). The S3 backend is in `s3store`; this module has the folder backend,
what both share, and nothing heavier than the standard library.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MlregError
from ..masking import credentials_in, mask
from .failures import StoreErrors

CHUNK = 16 << 20  # multipart part size: uploads of 2 parts or more go multipart, parts in parallel
MAX_PARTS = 10_000
BLOCK = 8 << 20  # read/write block of the folder store and of hashing
SCHEMES = ("s3://", "file://")
Progress = Callable[[int], None]  # bytes transferred since the last call


@dataclass
class ObjectInfo:
    """One object: its URI, size, and what the store says about its bytes."""

    uri: str
    size: int
    etag: str | None = None  # S3's ETag (an MD5, or MD5-of-parts, unless KMS/SSE-C encrypted)
    encrypted: bool = False  # SSE-KMS / SSE-C: the ETag is not an MD5
    mtime: float | None = None  # seconds since the epoch


@dataclass
class PendingUpload:
    """A multipart upload that was started and never completed or aborted (an interrupted register)."""

    uri: str
    upload_id: str
    started: float | None = None  # seconds since the epoch


@dataclass
class Upload:
    """A local file to put at `uri`; `put` fills in the digests that identify its bytes."""

    local: Path
    uri: str
    size: int
    sha256: str = ""
    md5: str | None = None  # S3, a file sent in one request: its MD5 (the ETag S3 gives it)


def normalize(uri: str) -> str:
    """A store URI without a trailing slash; an absolute path becomes file://. Other schemes, and a URI that carries
    credentials (they belong in the environment, never in mlreg.yaml, a flag or a record), are refused."""
    text = str(uri).strip()
    if text.startswith("/"):
        text = Path(text).as_uri()
    if secret := credentials_in(text):
        raise MlregError(
            f"store {mask(text)!r} carries {secret}: credentials never go in a store URI (they "
            "would be committed); set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE instead"
        )
    if not text.startswith(SCHEMES) or text.rstrip("/") in ("s3:/", "file:/", "file://"):
        raise MlregError(f"store {uri!r}: expected s3://BUCKET[/PREFIX] or file:///FOLDER (or an absolute path)")
    if text.startswith("s3://") and not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/|$)", text):
        raise MlregError(f"store {uri!r}: {text[5:].split('/')[0]!r} is not a valid bucket name")
    return text.rstrip("/")


def canonical(uri: str) -> str:
    """One spelling per object, to compare a recorded URI with a listed one: scheme and host in lower case,
    `.`/`..` and repeated or trailing slashes folded, a file:// path percent-decoded with its symlinks resolved
    (the same folder reached through a link is the same object). Never used to address an object."""
    text = str(uri).strip()
    if text.startswith("/"):
        text = Path(text).as_uri()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    scheme = scheme.lower()
    host, _, path = rest.partition("/")
    host = host.rpartition("@")[2]  # user info names no other object
    if scheme == "file":
        from urllib.parse import unquote

        host = "" if host.lower() in ("", "localhost") else host.lower()
        return f"file://{host}{_real(posixpath.normpath('/' + unquote(path)))}"
    key = posixpath.normpath("/" + path).lstrip("/") if path else ""
    return f"{scheme}://{host.lower()}/{key}".rstrip("/")


@functools.lru_cache(maxsize=4096)
def _real_dir(folder: str) -> str:
    return os.path.realpath(folder)


def _real(path: str) -> str:
    """The path with its folder's symlinks resolved (the file itself may be gone)."""
    folder, name = os.path.split(path)
    real = _real_dir(folder)
    full = os.path.join(real, name)
    return os.path.realpath(full) if os.path.islink(full) else full


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def endpoint() -> str | None:
    """The S3 endpoint from the environment (AWS's variables first, then MLflow's), None for AWS itself."""
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"):
        if os.environ.get(var):
            return os.environ[var]
    return None


def part_size(size: int) -> int:
    return max(CHUNK, -(-size // MAX_PARTS))


def multipart(size: int) -> bool:
    """Whether a file of `size` bytes goes to S3 in parts (2 parts or more)."""
    return size >= 2 * part_size(size)


def etag_matches(etag: str, size: int, md5: str | None) -> bool:
    """S3's ETag for bytes put by the S3 store: the MD5 for one request; `<MD5 of part MD5s>-N` for a multipart
    upload, checked by its part count N (each part carries a checksum that the store verified on receipt)."""
    if not multipart(size):
        return md5 is None or etag == md5
    return etag.endswith(f"-{-(-size // part_size(size))}")


def file_digests(path: Path, with_md5: bool = False) -> tuple[int, str, str | None]:
    """Size, sha256 and (with_md5) MD5 of a file, in one read."""
    sha, md5 = hashlib.sha256(), hashlib.md5() if with_md5 else None
    size = 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            size += len(block)
            sha.update(block)
            if md5 is not None:
                md5.update(block)
    return size, sha.hexdigest(), (md5.hexdigest() if md5 is not None else None)


def object_path(uri: str) -> str:
    """The store's own path for an object URI (`bucket/key`, or the local path)."""
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(uri).path)
    return uri[len("s3://") :]


class ObjectStore:
    """The objects of one scheme (`uploads.store_for` gives the shared folder or S3 store for a URI)."""

    scheme = "file"

    path = staticmethod(object_path)

    def uri(self, path: str) -> str:
        return Path(path).as_uri() if self.scheme == "file" else f"s3://{path}"

    def where(self) -> str:
        return "the local filesystem"

    def stat(self, uri: str) -> ObjectInfo | None:
        """The object at `uri`, or None when there is none."""
        raise NotImplementedError

    def listing(self, root: str) -> list[ObjectInfo]:
        """Every object below the folder `root` (none when it does not exist yet)."""
        raise NotImplementedError

    def pending_uploads(self, root: str) -> list[PendingUpload]:
        """Multipart uploads under `root` that were never completed (a folder store has none)."""
        return []

    def abort_uploads(self, pending: list[PendingUpload]) -> None:
        """Abort these multipart uploads (their parts are freed)."""

    def download(self, uri: str, dest: Path, progress: Progress | None = None, limit: int | None = None) -> str:
        """Copy the object at `uri` to the local file `dest` (which the caller checks and moves into place);
        returns the sha256 of the bytes written. With `limit`, at most limit + 1 bytes are written (the caller
        sees an object larger than recorded without reading all of it)."""
        raise NotImplementedError

    def put(self, up: Upload, progress: Progress | None = None) -> bool:
        """Put one file unless the same bytes are already there; never replace other bytes. False: was there.
        Fills in up.sha256 (and what the store checks the bytes by)."""
        raise NotImplementedError

    def delete(self, uris: list[str]) -> None:
        """Remove these objects."""
        raise NotImplementedError

    def read_note(self, uri: str) -> bytes | None:
        """A small bookkeeping object of mlreg's own (gc's marks), None when there is none."""
        raise NotImplementedError

    def write_note(self, uri: str, data: bytes) -> None:
        """Write (replace) a small bookkeeping object of mlreg's own: the only objects mlreg ever replaces."""
        raise NotImplementedError

    def errors(self, uri: str, action: str) -> StoreErrors:
        return StoreErrors(self, uri, action)

    def _refuse(self, up: Upload) -> MlregError:
        return MlregError(
            f"{mask(up.uri)} already exists with different bytes; mlreg never overwrites an object "
            "(rerun: every register uploads into a folder of its own)"
        )

    def _mismatch(self, up: Upload, have: ObjectInfo | None) -> MlregError:
        if have is None:
            return MlregError(f"{mask(up.uri)}: uploaded, but the store does not show it; nothing was committed")
        what = f"size {have.size}, expected {up.size}" if have.size != up.size else "checksum (ETag) differs"
        return MlregError(
            f"{mask(up.uri)}: the stored object does not match {up.local} ({what}); nothing was committed"
        )


class FolderStore(ObjectStore):
    """A store in a local or network folder: plain file operations, objects written read-only, never replaced."""

    def stat(self, uri: str) -> ObjectInfo | None:
        with self.errors(uri, "read"):
            p = Path(self.path(uri))
            if not p.is_file():
                return None
            st = p.stat()
            return ObjectInfo(uri, st.st_size, mtime=st.st_mtime)

    def listing(self, root: str) -> list[ObjectInfo]:
        with self.errors(root, "list"):
            base = self.path(root).rstrip("/")
            return [
                ObjectInfo(
                    Path(folder, f).as_uri(), (st := os.stat(os.path.join(folder, f))).st_size, mtime=st.st_mtime
                )
                for folder, _, files in os.walk(base)
                for f in files
            ]

    def download(self, uri: str, dest: Path, progress: Progress | None = None, limit: int | None = None) -> str:
        with self.errors(uri, "download"), open(self.path(uri), "rb") as src, open(dest, "wb") as out:
            return _copy(src, out, progress, limit)

    def put(self, up: Upload, progress: Progress | None = None) -> bool:
        have = self.stat(up.uri)
        if have is not None:  # an interrupted earlier register: keep it only if it is our bytes
            up.size, up.sha256, _ = file_digests(up.local)
            if have.size != up.size or file_digests(Path(self.path(up.uri)))[1] != up.sha256:
                raise self._refuse(up)
            return False
        with self.errors(up.uri, "upload"):
            target = Path(self.path(up.uri))
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".mlreg-{target.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, open(up.local, "rb") as src:
                    up.sha256 = _copy(src, out, progress)
                    out.flush()
                    os.fsync(out.fileno())
                    written = out.tell()
                os.chmod(tmp, 0o444)
                try:
                    os.link(tmp, target)  # fails when the target exists: a folder store is never overwritten either
                except FileExistsError:  # someone else put it meanwhile
                    if file_digests(target)[1] != up.sha256:
                        raise self._refuse(up) from None
                    return False
            finally:
                Path(tmp).unlink(missing_ok=True)
        if written != up.size:
            raise self._mismatch(up, ObjectInfo(up.uri, written))
        return True

    def delete(self, uris: list[str]) -> None:
        for u in uris:
            with self.errors(u, "delete"):
                Path(self.path(u)).unlink(missing_ok=True)

    def read_note(self, uri: str) -> bytes | None:
        with self.errors(uri, "read"):
            try:
                return Path(self.path(uri)).read_bytes()
            except FileNotFoundError:
                return None

    def write_note(self, uri: str, data: bytes) -> None:
        with self.errors(uri, "write"):
            target = Path(self.path(uri))
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".mlreg-{target.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)


def _copy(src: Any, out: Any, progress: Progress | None, limit: int | None = None) -> str:
    """Copy one open file to another in blocks (at most limit + 1 bytes), hashing on the way; returns the sha256."""
    sha = hashlib.sha256()
    left = None if limit is None else limit + 1
    while block := src.read(BLOCK if left is None else min(BLOCK, left)):
        if left is not None:
            left -= len(block)
        out.write(block)
        sha.update(block)
        if progress:
            progress(len(block))
    return sha.hexdigest()
