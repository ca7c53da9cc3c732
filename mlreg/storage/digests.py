"""Artifact digests, checked once per git blob id.

Git already content-addresses every committed file: a blob id names exactly one content, so its sha256
and size never change. `validate` keeps them in `<git dir>/mlreg/digests` and re-hashes only files whose
blob it has not seen, or work-tree files git does not know to be unchanged. A missing or unwritable cache
only costs speed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from ..core.records import Digest, Hasher
from ..errors import MlregError
from . import gitops


class DigestCache:
    """blob id -> (size, sha256), loaded once and written back (atomically) when it grew."""

    def __init__(self, path: Path | None):
        self.path = path
        self.known: dict[str, Digest] = {}
        self.added = 0
        if path is not None:
            try:
                for line in path.read_text().splitlines():
                    oid, size, sha = line.split(" ")
                    self.known[oid] = (int(size), sha)
            except (OSError, ValueError):
                self.known = {}

    def get(self, oid: str) -> Digest | None:
        return self.known.get(oid)

    def put(self, oid: str, found: Digest) -> None:
        if oid not in self.known:
            self.known[oid] = found
            self.added += 1

    def save(self) -> None:
        if self.path is None or not self.added:
            return
        from .atomic import write_atomic

        text = "".join(f"{oid} {size} {sha}\n" for oid, (size, sha) in sorted(self.known.items()))
        try:
            write_atomic(self.path, text.encode())
        except OSError:
            pass  # a read-only repository: the next run hashes again
        self.added = 0


def of_bytes(data: bytes) -> Digest:
    return len(data), hashlib.sha256(data).hexdigest()


def of_file(path: Path | str) -> Digest | None:
    """Size and sha256 of a plain file, never followed through a symlink (None when it is not one: a symlink, a
    folder, a FIFO or a device is never read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    h, size = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def cache_for(root: Path) -> DigestCache:
    """The repository's digest cache (an empty, unsaved one outside a git repository)."""
    try:
        return DigestCache(gitops.common_dir(root) / "mlreg" / "digests")
    except (MlregError, OSError):
        return DigestCache(None)


def worktree_hasher(root: Path, cache: DigestCache) -> Hasher:
    """Digests of work-tree files: by blob id from the cache when git knows the file is unchanged."""
    try:
        clean = gitops.clean_blob_ids(root)
    except MlregError:
        clean = {}

    def digest(rel: str) -> Digest | None:
        oid = clean.get(rel)
        hit = cache.get(oid) if oid else None
        if hit:
            return hit
        found = of_file(Path(root) / rel)
        if found and oid:
            cache.put(oid, found)
        return found

    return digest


def tree_hasher(root: Path, files: dict[str, str], cache: DigestCache, wanted: list[str]) -> Hasher:
    """Digests of files in a git tree (`files`: path -> blob id); the blobs of `wanted` paths the cache
    lacks are read in one git call up front."""
    missing = {files[p] for p in wanted if p in files and cache.get(files[p]) is None}
    for oid, data in gitops.blobs(root, missing).items():
        cache.put(oid, of_bytes(data))

    def digest(rel: str) -> Digest | None:
        oid = files.get(rel)
        return cache.get(oid) if oid else None

    return digest
