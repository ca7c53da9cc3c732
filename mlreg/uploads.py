"""The store side of a registry: register's uploads, verify's checks of stored files, and gc.

A store-backed file is recorded as `{"path": rel, "uri": <store>/<model>/v<N>/<rel>, "sha256", "size"}`: the same
folder layout as in git, so the store folder is browsable and loadable by MLflow as it is.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import MlregError
from .objstore import FolderStore, ObjectInfo, ObjectStore, PendingUpload, Upload, normalize
from .records import Artifact, Version

TransferProgress = Callable[[int, int], None]  # (bytes done since the last call, total bytes)
WORKERS = 16  # files in flight at once (an S3 store sends at most MULTIPART_FILES big ones at a time)
_ENV_KEYS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION")
_SHARED: dict[tuple, ObjectStore] = {}
_SHARED_LOCK = threading.Lock()


def store_for(uri: str) -> ObjectStore:
    """The shared store for a URI's scheme (one S3 client per process and environment: making one is slow)."""
    s3 = uri.startswith("s3://")
    key = ("s3", *(os.environ.get(v) for v in _ENV_KEYS)) if s3 else ("file",)
    with _SHARED_LOCK:
        if key not in _SHARED:
            if s3:
                from .s3store import S3Store  # boto3: only when an s3:// store is used

                _SHARED[key] = S3Store()
            else:
                _SHARED[key] = FolderStore()
        return _SHARED[key]


def object_uri(base: str, rel: str) -> str:
    """`<base>/<rel>`; a file:// URI quotes the relative part (spaces, `%`)."""
    return base.rstrip("/") + "/" + (quote(rel) if base.startswith("file://") else rel)


def version_uri(store: str, model: str, version: int) -> str:
    """The store folder of one version: `<store>/<model>/v<N>`."""
    return f"{normalize(store)}/{model}/v{version}"


def stored_folder(record: Version) -> str | None:
    """The store folder holding every file of a store-backed version (None when it has files elsewhere)."""
    stored = [a for a in record.artifacts if a.stored]
    if not stored or len(stored) != len(record.artifacts):
        return None
    folders = set()
    for a in stored:
        uri, rel = a.uri or "", a.path or ""
        tail = "/" + (quote(rel) if uri.startswith("file://") else rel)
        if not uri.endswith(tail):
            return None
        folders.add(uri[: -len(tail)])
    return folders.pop() if len(folders) == 1 else None


def too_large(files: Iterable[tuple[str, Path]], limit_mb: float) -> list[tuple[str, int]]:
    """(name, size) of every (name, file) bigger than `limit_mb`."""
    limit = limit_mb * 1024 * 1024
    return [(name, p.stat().st_size) for name, p in files if p.stat().st_size > limit]


class _Meter:
    """Thread-safe byte counter that forwards to the caller's progress callback."""

    def __init__(self, total: int, progress: TransferProgress | None):
        self.total, self.progress, self.lock = total, progress, threading.Lock()

    def __call__(self, n: int) -> None:
        if self.progress and n:
            with self.lock:
                self.progress(n, self.total)


def run_parallel(jobs: list[Callable[[], Any]], workers: int = WORKERS) -> list[Any]:
    """Run jobs in a thread pool; the first failure cancels what has not started and is raised."""
    if not jobs:
        return []
    pool = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="mlreg-store")
    try:
        futures = [pool.submit(job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            if f.done() and (e := f.exception()) is not None:
                raise e
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def upload_files(targets: list[tuple[Path, str]], progress: TransferProgress | None = None,
                 workers: int = WORKERS) -> list[Upload]:
    """Put each local file at its object URI (in parallel, big files first; multipart for big ones), each checked
    as it lands; returns the uploads, with their sha256 and size, in order.

    A file whose object is already there with the same bytes (an interrupted earlier register) is not sent
    again; an object with other bytes is an error and is left alone.
    """
    sizes = [path.stat().st_size for path, _ in targets]
    meter = _Meter(sum(sizes), progress)

    def one(i: int) -> Upload:
        up = Upload(targets[i][0], targets[i][1], sizes[i])
        if not store_for(up.uri).put(up, meter):
            meter(up.size)
        return up

    order = sorted(range(len(targets)), key=lambda i: -sizes[i])  # big files first: no long tail
    done = dict(zip(order, run_parallel([partial(one, i) for i in order], workers), strict=True))
    return [done[i] for i in range(len(targets))]


def upload_version(files: list[Path], folder: Path, base: str, progress: TransferProgress | None = None,
                   workers: int = WORKERS) -> list[Artifact]:
    """Put every file of a version folder under `base` (see upload_files); returns the artifact records."""
    rels = [p.relative_to(folder).as_posix() for p in files]
    ups = upload_files([(p, object_uri(base, rel)) for p, rel in zip(files, rels, strict=True)], progress, workers)
    return [Artifact(sha256=u.sha256, size=u.size, path=rel, uri=u.uri) for u, rel in zip(ups, rels, strict=True)]


# -- verify ----------------------------------------------------------------------------------------
def check_stored(artifacts: list[Artifact], download: bool = False,
                 progress: TransferProgress | None = None) -> list[tuple[str, str | None]]:
    """(status, actual sha256) per stored artifact: ok, missing (no object), mismatch (size, or bytes with
    `download`). Store errors (credentials, bucket, network) raise."""
    meter = _Meter(sum(a.size for a in artifacts) if download else 0, progress)

    def one(a: Artifact) -> tuple[str, str | None]:
        store = store_for(a.uri or "")
        info = store.stat(a.uri or "")
        if info is None:
            return "missing", None
        if info.size != a.size:
            return "mismatch", None
        if not download:
            return "ok", None
        with tempfile.TemporaryDirectory(prefix="mlreg-verify-") as tmp:
            dest = Path(tmp) / "object"
            actual = store.download(a.uri or "", dest, meter)
        return ("ok" if actual == a.sha256 else "mismatch"), actual

    return run_parallel([partial(one, a) for a in artifacts])


# -- gc --------------------------------------------------------------------------------------------
@dataclass
class GcReport:
    """What gc found under the store: objects no version records and multipart uploads never completed (both
    removed unless a dry run)."""

    store: str
    objects: int
    recorded: int
    orphans: list[ObjectInfo] = field(default_factory=list)
    recent: list[ObjectInfo] = field(default_factory=list)  # orphans younger than min_age: kept
    uploads: list[PendingUpload] = field(default_factory=list)  # incomplete multipart uploads older than min_age
    removed: bool = False

    @property
    def orphan_bytes(self) -> int:
        return sum(o.size for o in self.orphans)

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "objects": self.objects, "recorded": self.recorded, "removed": self.removed,
                "orphans": [{"uri": o.uri, "size": o.size} for o in self.orphans],
                "recent": [{"uri": o.uri, "size": o.size} for o in self.recent],
                "uploads": [{"uri": u.uri, "upload_id": u.upload_id, "started": u.started} for u in self.uploads]}


def collect_garbage(store_uri: str, recorded_uris: set[str], dry_run: bool = False,
                    min_age: float = 3600.0, now: float | None = None) -> GcReport:
    """Remove objects under the store that no version records, and abort multipart uploads that were never
    completed (what is younger than `min_age` seconds is kept: a register may be uploading it right now)."""
    base = normalize(store_uri)
    store = store_for(base)
    objects = store.listing(base)
    keep = {store.path(u) for u in recorded_uris if u.startswith(base.split("://")[0])}
    now = time.time() if now is None else now
    report = GcReport(base, len(objects), sum(1 for o in objects if store.path(o.uri) in keep))
    for o in objects:
        if store.path(o.uri) in keep:
            continue
        young = o.mtime is not None and now - o.mtime < min_age
        (report.recent if young else report.orphans).append(o)
    report.uploads = [u for u in store.pending_uploads(base) if u.started is None or now - u.started >= min_age]
    if not dry_run and (report.orphans or report.uploads):
        store.delete([o.uri for o in report.orphans])
        store.abort_uploads(report.uploads)
        report.removed = True
    return report
