"""The store side of a registry: register's uploads, verify's checks of stored files (gc: garbage.py).

A store-backed file is recorded as `{"path": rel, "uri": <version folder>/<rel>, "sha256", "size"}`, the version
folder being `<store>/_mlreg/<registry id>/<model>/v<N>-<random>` (records of the older `<store>/<model>/v<N>`
stay valid): the same layout as in git below it, so the folder is browsable and loadable by MLflow as it is.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..core.records import Artifact, Version
from ..errors import MlregError
from ..masking import mask
from .stores import FolderStore, ObjectStore, Upload, normalize

TransferProgress = Callable[[int, int], None]  # (bytes done since the last call, total bytes)
WORKERS = 16  # files in flight at once (an S3 store sends at most MULTIPART_FILES big ones at a time)
_ENV_KEYS = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)
NAMESPACE = "_mlreg"  # <store>/_mlreg/<registry id>/: the objects of one registry
MARKS = "gc-marks.json"  # <namespace>/gc-marks.json: what gc found unrecorded, and when
_SHARED: dict[tuple, ObjectStore] = {}
_SHARED_LOCK = threading.Lock()


def store_for(uri: str) -> ObjectStore:
    """The shared store for a URI's scheme (one S3 client per process and environment: making one is slow)."""
    s3 = uri.startswith("s3://")
    key = ("s3", *(os.environ.get(v) for v in _ENV_KEYS)) if s3 else ("file",)
    with _SHARED_LOCK:
        if key not in _SHARED:
            if s3:
                from .s3 import S3Store  # boto3: only when an s3:// store is used

                _SHARED[key] = S3Store()
            else:
                _SHARED[key] = FolderStore()
        return _SHARED[key]


def object_uri(base: str, rel: str) -> str:
    """`<base>/<rel>`; a file:// URI quotes the relative part (spaces, `%`)."""
    return base.rstrip("/") + "/" + (quote(rel) if base.startswith("file://") else rel)


def namespace(store: str, registry: str) -> str:
    """This registry's part of a store: `<store>/_mlreg/<registry id>` (`_` starts no model name, so it never
    meets the old layout's `<store>/<model>/`)."""
    return f"{normalize(store)}/{NAMESPACE}/{registry}"


def registry_key(root: Path) -> str:
    """The registry's id as the store knows it: `registry_id` of mlreg.yaml, else `git-` and 16 digits of the
    repository's root commit (the same in every clone, as sync names it in MLflow)."""
    from ..core.files import RegistryFiles
    from ..storage import gitops

    settings = RegistryFiles(root).settings()
    if settings.registry_id:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{3,63}", settings.registry_id):
            raise MlregError(
                f"mlreg.yaml: $.registry_id: expected 4-64 letters, digits, '.', '_' or '-', got "
                f"{settings.registry_id!r}"
            )
        return settings.registry_id
    first = gitops.root_commit(root)
    if not first:
        raise MlregError(
            "the registry has no commit yet, so no id for the store; commit mlreg.yaml first (or set registry_id in it)"
        )
    return f"git-{first[:16]}"


def registry_store(root: Path, store: str | None) -> str | None:
    """The namespace of the registry at `root` in `store` (None without a store)."""
    return namespace(store, registry_key(root)) if store else None


def version_uri(store: str, model: str, version: int, root: Path | None = None) -> str:
    """A fresh store folder for one version's files: `<store>/_mlreg/<registry>/<model>/v<N>-<random>` (`store` as
    configured, with `root` the registry's folder; or, without `root`, a namespace from `registry_store`).

    Each upload gets a folder of its own: two branches or clones can give the same number to different bytes, an
    abandoned upload never blocks a retry, and no register reuses an object a gc may have marked."""
    base = namespace(store, registry_key(root)) if root is not None else normalize(store)
    if f"/{NAMESPACE}/" not in base:
        raise MlregError(f"internal: {mask(base)} is not a registry's namespace in a store")
    return f"{base}/{model}/v{version}-{secrets.token_hex(6)}"


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


def upload_files(
    targets: list[tuple[Path, str]], progress: TransferProgress | None = None, workers: int = WORKERS
) -> list[Upload]:
    """Put each local file at its object URI (in parallel, big files first; multipart for big ones), each checked
    as it lands; returns the uploads, with their sha256 and size, in order.

    A file whose object is already there with the same bytes is not sent again; an object with other bytes is an
    error and is left alone (register and import upload into a fresh folder each time: neither happens to them).
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


def upload_version(
    files: list[Path], folder: Path, base: str, progress: TransferProgress | None = None, workers: int = WORKERS
) -> list[Artifact]:
    """Put every file of a version folder under `base` (see upload_files); returns the artifact records."""
    rels = [p.relative_to(folder).as_posix() for p in files]
    ups = upload_files([(p, object_uri(base, rel)) for p, rel in zip(files, rels, strict=True)], progress, workers)
    return [Artifact(sha256=u.sha256, size=u.size, path=rel, uri=u.uri) for u, rel in zip(ups, rels, strict=True)]


# -- verify ----------------------------------------------------------------------------------------
def check_stored(
    artifacts: list[Artifact], download: bool = False, progress: TransferProgress | None = None
) -> list[tuple[str, str | None]]:
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
