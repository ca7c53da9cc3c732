"""Files of store-backed versions on this machine: a content-addressed cache, `pull`, and `get` (no checkout).

The cache (`$MLREG_CACHE`, else the user cache folder) keeps every file once, by sha256, read-only; a file enters
it only after its sha256 matched the record, so bad bytes are never kept. Pulled folders hold hard links to the
cache entries (copies where linking is impossible), so a second pull of the same version transfers nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MlregError
from .records import Artifact, Version

if TYPE_CHECKING:
    from .uploads import TransferProgress, _Meter

# A pull whose files are all cached imports nothing of the transfer machinery (thread pools, boto3): it checks each
# cache entry's size (its name is the sha256 it was verified against) and links it into place.


def cache_dir() -> Path:
    """`$MLREG_CACHE`, else the platform's user cache folder + `mlreg`."""
    if os.environ.get("MLREG_CACHE"):
        return Path(os.environ["MLREG_CACHE"]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "mlreg"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "mlreg" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlreg"


class Cache:
    """Files by sha256 under `<root>/files/ab/cdef...`, temp downloads under `<root>/tmp`."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else cache_dir()

    def entry(self, sha256: str) -> Path:
        return self.root / "files" / sha256[:2] / sha256[2:]

    def has(self, a: Artifact) -> bool:
        try:
            return self.entry(a.sha256).stat().st_size == a.size
        except OSError:
            return False

    def fetch(self, a: Artifact, meter: _Meter) -> None:
        """Download one stored file, check its sha256 and size, and only then add it to the cache."""
        from .uploads import store_for

        tmpdir = self.root / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmpdir, prefix="dl-")
        os.close(fd)
        tmp = Path(name)
        try:
            sha = store_for(a.uri or "").download(a.uri or "", tmp, meter)
            size = tmp.stat().st_size
            if sha != a.sha256 or size != a.size:
                raise MlregError(f"{a.uri}: downloaded bytes do not match the record (sha256 {sha[:12]}..., "
                                 f"expected {a.sha256[:12]}...; {size} bytes, expected {a.size}); the store "
                                 "object was changed or damaged; the bytes were not kept")
            os.chmod(tmp, 0o444)  # pulled folders hold hard links to this file: editing one would edit all
            self.entry(a.sha256).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, self.entry(a.sha256))
        finally:
            tmp.unlink(missing_ok=True)


@dataclass
class PullReport:
    """What a pull did: where the files are and how many bytes moved."""

    ref: str
    dest: Path
    files: list[Path] = field(default_factory=list)  # local path of every artifact placed, in record order
    downloaded_files: int = 0
    downloaded_bytes: int = 0
    cached_files: int = 0  # stored files already in the cache
    from_git: int = 0  # files copied from the version folder in git
    linked: int = 0
    copied: int = 0
    external: list[str] = field(default_factory=list)  # --external files: recorded by path/URI, not placed

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "dest": str(self.dest), "files": [str(p) for p in self.files],
                "downloaded_files": self.downloaded_files, "downloaded_bytes": self.downloaded_bytes,
                "cached_files": self.cached_files, "from_git": self.from_git, "linked": self.linked,
                "copied": self.copied, "external": self.external}


def version_tree(record: Version, cache: Cache | None = None) -> Path:
    """The cache's own folder for a version's files (keyed by the files, so two registries never collide)."""
    cache = cache or Cache()
    key = hashlib.sha256(json.dumps(sorted((a.path or "", a.sha256) for a in record.artifacts)).encode())
    return cache.root / "versions" / record.name / f"v{record.version}-{key.hexdigest()[:16]}"


def pull_record(record: Version, folder: Path | None, dest: Path | None = None,
                progress: TransferProgress | None = None, cache: Cache | None = None) -> PullReport:
    """Download the version's stored files that the cache lacks (verified), then place every file in `dest`
    (default: the cache's folder for the version). `folder` is the version folder in git (for in-git files)."""
    cache = cache or Cache()
    dest = Path(dest) if dest is not None else version_tree(record, cache)
    report = PullReport(f"{record.name}/{record.version}", dest.resolve() if dest.exists() else dest)
    stored = [a for a in record.artifacts if a.stored]
    missing = list({a.sha256: a for a in stored if not cache.has(a)}.values())
    if missing:
        from .uploads import _Meter, run_parallel

        meter = _Meter(sum(a.size for a in missing), progress)
        run_parallel([partial(cache.fetch, a, meter) for a in missing])
    report.downloaded_files, report.downloaded_bytes = len(missing), sum(a.size for a in missing)
    report.cached_files = len(stored) - len(missing)
    dest.mkdir(parents=True, exist_ok=True)
    report.dest = dest.resolve()
    for a in record.artifacts:
        if a.path is None:
            report.external.append(a.uri or "")
            continue
        target = _inside(report.dest, a.path)
        if a.stored:
            how = place(cache.entry(a.sha256), target, link=True)
        else:
            if folder is None or not (folder / a.path).is_file():
                raise MlregError(f"{record.name} v{record.version}: {a.path} is recorded in git but missing from "
                                 "the version folder")
            how = place(folder / a.path, target, link=False)
            report.from_git += 1
        report.linked += how == "linked"
        report.copied += how == "copied"
        report.files.append(target)
    return report


def _inside(dest: Path, rel: str) -> Path:
    target = dest / rel
    if not target.parent.resolve().is_relative_to(dest):
        raise MlregError(f"{target}: outside {dest} (a symlinked folder?); refusing to write there")
    return target


def place(src: Path, target: Path, link: bool) -> str:
    """Put `src` at `target` (hard link when `link`, else or when linking fails a copy): kept, linked or copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            if os.path.samefile(src, target):
                return "kept"
        except OSError:
            pass
    tmp = target.parent / f".{target.name}.mlreg-tmp"
    tmp.unlink(missing_ok=True)
    how = "copied"
    try:
        if link:
            try:
                os.link(src, tmp)
                how = "linked"
            except OSError:  # another filesystem, or links not allowed: copy
                shutil.copyfile(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return how


def local_paths(record: Version, folder: Path, pull: bool,
                progress: TransferProgress | None = None) -> tuple[list[str], Path | None]:
    """Where each artifact is on this machine (pulling store-backed files on demand), and the folder holding
    them (None for a version kept in git). Without `pull`, store-backed files are given by URI."""
    if not any(a.stored for a in record.artifacts):
        return [str(folder / a.path) if a.path is not None else a.uri or "" for a in record.artifacts], None
    if not pull:
        return [a.uri or "" for a in record.artifacts], None
    report = pull_record(record, folder, None, progress)
    files = iter(report.files)
    return [str(next(files)) if a.path is not None else a.uri or "" for a in record.artifacts], report.dest

