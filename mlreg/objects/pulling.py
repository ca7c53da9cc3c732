"""Files of store-backed versions on this machine: `pull`, and `get` (no checkout), through the local cache.

The cache (filecache) keeps every stored file once, by sha256, checked before it is served. Pulls place copies,
never links into the cache, so writing to a pulled file cannot change what the next pull hands out; each copy is
hashed as it is written and must match the record (size and sha256), and so must a file copied out of the version
folder in git, which is never read through a symlink. A copy already in place is kept while its seal (see
filecache) says it is unchanged; otherwise it is hashed, and replaced when it differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.records import Artifact, Version
from ..errors import MlregError
from .filecache import FileCache, cache_dir

if TYPE_CHECKING:
    from .uploads import TransferProgress

__all__ = ["FileCache", "PullReport", "cache_dir", "local_paths", "pull_record", "version_tree"]
BLOCK = 8 << 20


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
    linked: int = 0  # always 0: files are copied, never linked into the cache (kept in the JSON for old readers)
    copied: int = 0
    external: list[str] = field(default_factory=list)  # --external files: recorded by path/URI, not placed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "dest": str(self.dest),
            "files": [str(p) for p in self.files],
            "downloaded_files": self.downloaded_files,
            "downloaded_bytes": self.downloaded_bytes,
            "cached_files": self.cached_files,
            "from_git": self.from_git,
            "linked": self.linked,
            "copied": self.copied,
            "external": self.external,
        }


def version_tree(record: Version, cache: FileCache | None = None) -> Path:
    """The cache's own folder for a version's files (keyed by the files, so two registries never collide)."""
    cache = cache or FileCache()
    key = hashlib.sha256(json.dumps(sorted((a.path or "", a.sha256) for a in record.artifacts)).encode())
    return cache.root / "versions" / record.name / f"v{record.version}-{key.hexdigest()[:16]}"


def pull_record(
    record: Version,
    folder: Path | None,
    dest: Path | None = None,
    progress: TransferProgress | None = None,
    cache: FileCache | None = None,
) -> PullReport:
    """Download the version's stored files that the cache lacks (verified), then place a checked copy of every
    file in `dest` (default: the cache's folder for the version). `folder` is the version folder in git (for
    in-git files)."""
    cache = cache or FileCache()
    dest = Path(dest) if dest is not None else version_tree(record, cache)
    report = PullReport(f"{record.name}/{record.version}", dest.resolve() if dest.exists() else dest)
    stored = [a for a in record.artifacts if a.stored]
    cache.clean_tmp()  # downloads of pulls that were killed
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
            how = place(cache.entry(a.sha256), target, a, cache, f"the cache's copy of {a.uri}")
        else:
            src = _git_file(record, folder, a.path)
            how = place(src, target, a, cache, f"{record.name} v{record.version}: {a.path} (in git)")
            report.from_git += 1
        report.copied += how == "copied"
        report.files.append(target)
    return report


def _inside(dest: Path, rel: str) -> Path:
    target = dest / rel
    if not target.parent.resolve().is_relative_to(dest):
        raise MlregError(f"{target}: outside {dest} (a symlinked folder?); refusing to write there")
    return target


def _git_file(record: Version, folder: Path | None, rel: str) -> Path:
    """The in-git file `rel` of the version folder: a plain file, reached through no symlink."""
    where = f"{record.name} v{record.version}: {rel}"
    src = folder / rel if folder is not None else None
    if src is None or not os.path.lexists(src):
        raise MlregError(f"{where} is recorded in git but missing from the version folder")
    if os.path.realpath(src) != os.path.join(os.path.realpath(folder), os.path.normpath(rel)):  # type: ignore[arg-type]
        raise MlregError(
            f"{where} is a symbolic link in git (or lies under one); mlreg never hands out a file through a link"
        )
    return src


def place(src: Path, target: Path, a: Artifact, cache: FileCache, label: str) -> str:
    """Put a copy of `src` at `target`, checked against the record while it is written: kept (`target` already
    held these bytes) or copied. A copy that does not match is not placed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if cache.holds(target, a.sha256, a.size) and os.stat(target).st_nlink == 1:  # a hard link (older mlreg): copy
        return "kept"
    tmp = target.parent / f".{target.name}.mlreg-tmp"
    tmp.unlink(missing_ok=True)
    try:
        if a.stored and cache.sealed(src) == a.sha256:
            # a cache entry whose seal holds before and after the copy was not written meanwhile: a kernel copy
            # (no second hash of a file just verified) keeps a pull as fast as the download itself
            shutil.copyfile(src, tmp)
            size, sha = (a.size, a.sha256) if cache.sealed(src) == a.sha256 else _copy_checked(src, tmp, label)
        else:
            size, sha = _copy_checked(src, tmp, label)
        if (size, sha) != (a.size, a.sha256):
            raise MlregError(
                f"{label}: {size} bytes with sha256 {sha[:12]}..., but the record says {a.size} bytes "
                f"with {a.sha256[:12]}...; not handed out"
            )
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    cache.seal(target, a.sha256)
    return "copied"


def _copy_checked(src: Path, tmp: Path, label: str) -> tuple[int, str]:
    """Copy `src` (never through a symlink) to a new file `tmp`, hashing it; returns its size and sha256."""
    try:
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise MlregError(f"{label}: cannot read it ({e.strerror}; a symbolic link?)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MlregError(f"{label}: not a plain file (a FIFO, a device or a folder); not handed out")
    h, size = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as f, open(tmp, "wb") as out:
        while block := f.read(BLOCK):
            h.update(block)
            size += len(block)
            out.write(block)
    return size, h.hexdigest()


def local_paths(
    record: Version, folder: Path, pull: bool, progress: TransferProgress | None = None
) -> tuple[list[str], Path | None]:
    """Where each artifact is on this machine (pulling store-backed files on demand), and the folder holding
    them (None for a version kept in git). Without `pull`, store-backed files are given by URI."""
    if not any(a.stored for a in record.artifacts):
        return [str(folder / a.path) if a.path is not None else a.uri or "" for a in record.artifacts], None
    if not pull:
        return [a.uri or "" for a in record.artifacts], None
    report = pull_record(record, folder, None, progress)
    files = iter(report.files)
    return [str(next(files)) if a.path is not None else a.uri or "" for a in record.artifacts], report.dest
