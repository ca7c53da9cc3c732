"""Object storage for model files: an S3-compatible bucket (through s3fs) or a folder (plain file operations).

No S3 protocol code lives here: fsspec/s3fs (and the botocore under it) do the talking. This module adds what a
registry needs on top: bounded retries and timeouts, one-line errors, uploads that never overwrite other bytes
and are checked after they land, and downloads into a temp file. Credentials and the endpoint come only from the
environment (AWS_* variables, the AWS config and profiles; MLFLOW_S3_ENDPOINT_URL as MLflow reads it).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MlregError

CHUNK = 16 << 20  # multipart part size: uploads of 2 parts or more go multipart, parts in parallel
MAX_PARTS = 10_000
CONNECT_TIMEOUT, READ_TIMEOUT = 3, 60  # seconds; with 2 x 2 attempts an unreachable endpoint fails in ~12 s
ATTEMPTS = 2  # botocore's attempts per request, and s3fs's retries around them
PART_CONCURRENCY = 8  # parts of one file in flight at once (several files go at once too)
SCHEMES = ("s3://", "file://")
Progress = Callable[[int], None]  # bytes transferred since the last call
_ENV_KEYS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION")
_SHARED: dict[tuple, ObjectStore] = {}
_SHARED_LOCK = threading.Lock()


@dataclass
class ObjectInfo:
    """One object: its URI, size, and what the store says about its bytes."""

    uri: str
    size: int
    etag: str | None = None  # S3's ETag (an MD5, or MD5-of-parts, unless KMS/SSE-C encrypted)
    encrypted: bool = False  # SSE-KMS / SSE-C: the ETag is not an MD5
    mtime: float | None = None  # seconds since the epoch


@dataclass
class Upload:
    """A local file to put at `uri`, with the digests that identify its bytes."""

    local: Path
    uri: str
    size: int
    sha256: str
    part_md5s: list[bytes] | None = None  # S3 only: MD5 of each CHUNK-sized part (the expected ETag)


def normalize(uri: str) -> str:
    """A store URI without a trailing slash; an absolute path becomes file://. Other schemes are refused."""
    text = str(uri).strip()
    if text.startswith("/"):
        text = Path(text).as_uri()
    if not text.startswith(SCHEMES) or text.rstrip("/") in ("s3:/", "file:/", "file://"):
        raise MlregError(f"store {uri!r}: expected s3://BUCKET[/PREFIX] or file:///FOLDER (or an absolute path)")
    if text.startswith("s3://") and not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/|$)", text):
        raise MlregError(f"store {uri!r}: {text[5:].split('/')[0]!r} is not a valid bucket name")
    return text.rstrip("/")


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


def etag_matches(etag: str, size: int, part_md5s: list[bytes] | None) -> bool:
    """S3's ETag for bytes put by `put` below: the MD5 for one request; `<MD5 of part MD5s>-N` for a multipart
    upload, checked by its part count N."""
    if size < 2 * part_size(size):
        return part_md5s is None or etag == (part_md5s[0].hex() if part_md5s else hashlib.md5(b"").hexdigest())
    return etag.endswith(f"-{-(-size // part_size(size))}")


def file_digests(path: Path, with_md5: bool) -> tuple[int, str, list[bytes] | None]:
    """Size, sha256 and (S3, a file sent in one request) its MD5, the ETag S3 will give it, in one read.

    A multipart upload's ETag is checked by its part count only: each part carries its own checksum, which the
    store verifies on receipt, and an MD5 of a big file would cost more CPU than the transfer."""
    size = path.stat().st_size
    single = size < 2 * part_size(size)
    sha, md5, step = hashlib.sha256(), hashlib.md5() if with_md5 and single else None, part_size(size)
    with open(path, "rb") as f:
        while block := f.read(step):
            sha.update(block)
            if md5 is not None:
                md5.update(block)
    return size, sha.hexdigest(), ([md5.digest()] if md5 is not None else None)


class ObjectStore:
    """The objects of one scheme (s3:// or file://), through one fsspec filesystem made on first use."""

    def __init__(self, scheme: str):
        self.scheme = scheme
        self._fs: Any = None
        self._lock = threading.Lock()
        self._buckets: set[str] = set()  # buckets known to exist

    @classmethod
    def for_uri(cls, uri: str) -> ObjectStore:
        """The shared store for a URI's scheme (one S3 client per process and environment: making one is slow)."""
        scheme = "s3" if uri.startswith("s3://") else "file"
        key = (scheme, *(os.environ.get(v) for v in _ENV_KEYS)) if scheme == "s3" else (scheme,)
        with _SHARED_LOCK:
            if key not in _SHARED:
                _SHARED[key] = cls(scheme)
            return _SHARED[key]

    @property
    def fs(self) -> Any:
        """s3fs's filesystem (a folder store needs no library beyond the standard one)."""
        with self._lock:
            if self._fs is None:
                self._fs = _s3()
            return self._fs

    def where(self) -> str:
        return (endpoint() or "AWS S3") if self.scheme == "s3" else "the local filesystem"

    @staticmethod
    def path(uri: str) -> str:
        """fsspec's path for an object URI (`bucket/key`, or the local path)."""
        if uri.startswith("file://"):
            from urllib.parse import unquote, urlparse

            return unquote(urlparse(uri).path)
        return uri[len("s3://"):]

    def uri(self, path: str) -> str:
        return Path(path).as_uri() if self.scheme == "file" else f"s3://{path}"

    # -- reads ---------------------------------------------------------------------------
    def stat(self, uri: str) -> ObjectInfo | None:
        """The object at `uri`, or None when there is none."""
        with self.errors(uri, "read"):
            if self.scheme == "file":
                p = Path(self.path(uri))
                if not p.is_file():
                    return None
                st = p.stat()
                return ObjectInfo(uri, st.st_size, mtime=st.st_mtime)
            bucket, _, key = self.path(uri).partition("/")
            try:
                head = self.fs.call_s3("head_object", Bucket=bucket, Key=key)
            except FileNotFoundError:
                if bucket not in self._buckets:  # once per bucket: a missing bucket is not a missing object
                    self._check_bucket(bucket)
                    self._buckets.add(bucket)
                return None
            return ObjectInfo(uri, int(head["ContentLength"]), head.get("ETag", "").strip('"'),
                              head.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in head,
                              head["LastModified"].timestamp() if head.get("LastModified") else None)

    def _check_bucket(self, bucket: str) -> None:
        """A missing bucket is an error, not a missing object."""
        try:
            self.fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:
            raise MlregError(f"bucket {bucket!r} does not exist at {self.where()}; create it, or fix "
                             "artifacts.store in mlreg.yaml (or --store)") from None

    def listing(self, root: str) -> list[ObjectInfo]:
        """Every object below the folder `root` (none when it does not exist yet)."""
        with self.errors(root, "list"):
            base = self.path(root).rstrip("/")
            if self.scheme == "file":
                return [ObjectInfo(Path(folder, f).as_uri(), (st := os.stat(os.path.join(folder, f))).st_size,
                                   mtime=st.st_mtime) for folder, _, files in os.walk(base) for f in files]
            self._check_bucket(base.split("/")[0])
            try:
                found = self.fs.find(base, detail=True)
            except FileNotFoundError:
                return []
            return [ObjectInfo(self.uri(path), int(info["size"]), (info.get("ETag") or "").strip('"') or None,
                               mtime=info["LastModified"].timestamp() if info.get("LastModified") else None)
                    for path, info in found.items() if info.get("type") == "file"]

    def download(self, uri: str, dest: Path, progress: Progress | None = None) -> None:
        """Copy the object at `uri` to the local file `dest` (which the caller checks and moves into place)."""
        with self.errors(uri, "download"):
            if self.scheme == "file":
                with open(self.path(uri), "rb") as src, open(dest, "wb") as out:
                    while block := src.read(8 << 20):
                        out.write(block)
                        if progress:
                            progress(len(block))
                return
            self.fs.get_file(self.path(uri), str(dest), callback=_callback(progress))

    # -- writes --------------------------------------------------------------------------
    def put(self, up: Upload, progress: Progress | None = None, digests: Callable[[], None] = lambda: None) -> bool:
        """Put one file unless the same bytes are already there; never replace other bytes. False: was there.

        `digests()` fills in up.sha256 / up.part_md5s (hashing may run while the bytes are on their way)."""
        have = self.stat(up.uri)
        if have is not None:
            digests()
            self._same_or_refuse(up, have)
            return False
        with self.errors(up.uri, "upload"):
            try:
                self._put_new(up, progress)
            except FileExistsError:  # someone else put it meanwhile
                digests()
                self._same_or_refuse(up, self.stat(up.uri))
                return False
        digests()
        self.check(up)
        return True

    def _put_new(self, up: Upload, progress: Progress | None) -> None:
        if self.scheme == "s3":
            # mode="create": the store refuses to replace an object (If-None-Match), where it supports that
            self.fs.put_file(str(up.local), self.path(up.uri), callback=_callback(progress),
                             chunksize=part_size(up.size), mode="create")
            return
        target = Path(self.path(up.uri))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".mlreg-{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, open(up.local, "rb") as src:
                while block := src.read(8 << 20):
                    out.write(block)
                    if progress:
                        progress(len(block))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)
            os.link(tmp, target)  # fails when the target exists: a folder store is never overwritten either
        finally:
            Path(tmp).unlink(missing_ok=True)

    def check(self, up: Upload) -> None:
        """After an upload: the object has the file's size and, where the store gives one, its checksum."""
        have = self.stat(up.uri)
        if have is None:
            raise MlregError(f"{up.uri}: uploaded, but the store does not show it; nothing was committed")
        if have.size != up.size or not self._etag_ok(up, have):
            what = f"size {have.size}, expected {up.size}" if have.size != up.size else "checksum (ETag) differs"
            raise MlregError(f"{up.uri}: the stored object does not match {up.local} ({what}); nothing was committed")

    def _etag_ok(self, up: Upload, have: ObjectInfo) -> bool:
        if self.scheme != "s3" or have.encrypted or not have.etag:
            return True  # a folder store has no checksum to ask for; KMS/SSE-C ETags are not MD5s
        return etag_matches(have.etag, up.size, up.part_md5s)

    def _same_or_refuse(self, up: Upload, have: ObjectInfo | None) -> None:
        """An object already at the URI (an interrupted earlier register): keep it only if it is our bytes."""
        single = up.part_md5s is not None and have is not None and have.etag and not have.encrypted
        same = have is not None and have.size == up.size and (
            self._etag_ok(up, have) if single else self._sha256(up.uri) == up.sha256)
        if not same:
            raise MlregError(f"{up.uri} already exists with different bytes; mlreg never overwrites an object "
                             "(left by an interrupted register? `mlreg gc` removes objects no version records)")

    def _sha256(self, uri: str) -> str:
        if self.scheme == "file":
            return file_digests(Path(self.path(uri)), False)[1]
        with tempfile.TemporaryDirectory(prefix="mlreg-check-") as tmp:
            dest = Path(tmp) / "object"
            self.download(uri, dest)
            return file_digests(dest, False)[1]

    def delete(self, uris: list[str]) -> None:
        """Remove these objects (bulk deletes on S3)."""
        if not uris:
            return
        with self.errors(uris[0], "delete"):
            if self.scheme == "file":
                for u in uris:
                    Path(self.path(u)).unlink(missing_ok=True)
                return
            self.fs.rm([self.path(u) for u in uris])

    # -- errors --------------------------------------------------------------------------
    def errors(self, uri: str, action: str) -> _Errors:
        return _Errors(self, uri, action)


class _Errors:
    """Turns what botocore/s3fs/the OS raise into one-line MlregErrors naming the object and what to check."""

    def __init__(self, store: ObjectStore, uri: str, action: str):
        self.store, self.uri, self.action = store, uri, action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, e, tb) -> bool:
        if e is None or isinstance(e, (MlregError, KeyboardInterrupt, FileExistsError)) or not isinstance(e, Exception):
            return False
        raise translate(e, self.store, self.uri, self.action) from None


def translate(e: Exception, store: ObjectStore, uri: str, action: str) -> MlregError:
    """A user-facing message for a storage failure."""
    text = " ".join(str(e).split()) or type(e).__name__
    name = type(e).__name__
    where = store.where()
    if name == "NoCredentialsError" or "Unable to locate credentials" in text:
        return MlregError(f"cannot {action} {uri}: no S3 credentials found; set AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment")
    if re.search(r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden|ExpiredToken", text) \
            or isinstance(e, PermissionError):
        return MlregError(f"cannot {action} {uri}: access denied by {where} ({_short(text)}); check "
                          "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE and the bucket policy")
    if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        bucket = store.path(uri).split("/")[0]
        return MlregError(f"bucket {bucket!r} does not exist at {where}; create it, or fix artifacts.store in "
                          "mlreg.yaml (or --store)")
    if re.search(r"Could not connect|Connect timeout|ConnectTimeout|EndpointConnectionError|Connection refused|"
                 r"timed out|Name or service not known|ConnectionError|ClientConnectorError", text + name):
        return MlregError(f"cannot reach the object store at {where} to {action} {uri}; check AWS_ENDPOINT_URL "
                          "(or MLFLOW_S3_ENDPOINT_URL) and the network, then rerun")
    if isinstance(e, FileNotFoundError):
        return MlregError(f"{uri}: not found in the store")
    return MlregError(f"cannot {action} {uri}: {_short(text)}")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def _s3() -> Any:
    try:
        import s3fs  # heavy: only when an s3:// store is used
    except ModuleNotFoundError:
        raise MlregError("an s3:// store needs s3fs: pip install 'mlreg[s3]'") from None

    fs = s3fs.S3FileSystem(
        endpoint_url=endpoint(), skip_instance_cache=True, max_concurrency=PART_CONCURRENCY,
        config_kwargs={"connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT,
                       "retries": {"total_max_attempts": ATTEMPTS, "mode": "standard"}},
    )
    fs.retries = ATTEMPTS  # s3fs's own retry loop around botocore's (default 5)
    return fs


def _callback(progress: Progress | None) -> Any:
    from fsspec.callbacks import Callback, NoOpCallback

    if progress is None:
        return NoOpCallback()

    class Forward(Callback):
        def relative_update(self, inc: int = 1) -> None:
            progress(inc)

        def absolute_update(self, value: int) -> None:
            pass

    return Forward()

