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
    """blob id -> (size, sha256), written back (atomically, sorted by blob id) when it grew.

    Loaded whole (a dict) for a run that looks most blobs up (`validate`), or `lazy`: each blob id asked is
    found by bisecting the sorted file's bytes, so a gate reading one model of a 100,000-version registry
    never parses the whole cache. A line that cannot be read, or a file out of order, only costs a re-hash."""

    def __init__(self, path: Path | None, lazy: bool = False):
        self.path = path
        self.known: dict[str, Digest] = {}
        self.added = 0
        self._text: bytes | None = None  # lazy: the file's bytes, searched on demand
        if path is None:
            return
        try:
            data = path.read_bytes()
        except OSError:
            return
        if lazy:
            self._text = data
            return
        try:
            for line in data.decode().splitlines():
                oid, size, sha = line.split(" ")
                self.known[oid] = (int(size), sha)
        except (UnicodeDecodeError, ValueError):
            self.known = {}

    def get(self, oid: str) -> Digest | None:
        hit = self.known.get(oid)
        if hit is None and self._text:
            hit = _bisect(self._text, oid.encode())
            if hit is not None:
                self.known[oid] = hit
        return hit

    def put(self, oid: str, found: Digest) -> None:
        if self.get(oid) is None:
            self.known[oid] = found
            self.added += 1

    def save(self) -> None:
        if self.path is None or not self.added:
            return
        from .atomic import write_atomic

        lines = {f"{oid} {size} {sha}".encode() for oid, (size, sha) in self.known.items()}
        if self._text:  # lazy: the lines read stay as they are, the new ones go in their place
            lines.update(line for line in self._text.split(b"\n") if line)
        try:
            write_atomic(self.path, b"".join(line + b"\n" for line in sorted(lines)))
        except OSError:
            pass  # a read-only repository: the next run hashes again
        self.added = 0


def _bisect(text: bytes, oid: bytes) -> Digest | None:
    """The digest on the line of sorted `text` that starts with `oid` (None when absent or unreadable)."""
    lo, hi = 0, len(text)  # lo is always the start of a line
    while lo < hi:
        start = text.rfind(b"\n", lo, (lo + hi) // 2) + 1 or lo
        end = text.find(b"\n", start)
        end = len(text) if end < 0 else end
        key = text[start : start + len(oid)]
        if key < oid:
            lo = end + 1
        elif key > oid:
            hi = start
        else:
            parts = text[start:end].split(b" ")
            ok = len(parts) == 3 and parts[0] == oid and parts[1].isdigit() and len(parts[2]) == 64
            return (int(parts[1]), parts[2].decode()) if ok and not parts[2].strip(b"0123456789abcdef") else None
    return None


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


def cache_for(root: Path, lazy: bool = False) -> DigestCache:
    """The repository's digest cache (an empty, unsaved one outside a git repository); `lazy` for a run that
    looks up a few blobs (see DigestCache)."""
    try:
        return DigestCache(gitops.common_dir(root) / "mlreg" / "digests", lazy)
    except (MlregError, OSError):
        return DigestCache(None)


def worktree_hasher(root: Path, cache: DigestCache, clean: dict[str, str] | None = None) -> Hasher:
    """Digests of work-tree files: by blob id from the cache when git knows the file is unchanged (`clean`:
    gitops.clean_blob_ids, asked here when not given)."""
    if clean is None:
        try:
            clean = gitops.clean_blob_ids(root)
        except MlregError:
            clean = {}
    return _WorkTreeDigests(Path(root), clean, cache)


class _WorkTreeDigests:
    """A Hasher over the work tree. In worker processes (validate's, forked) what a worker hashed is handed
    back with `learned()` and kept by the parent with `learn(...)`, so the cache still grows."""

    def __init__(self, root: Path, clean: dict[str, str], cache: DigestCache):
        self.root, self.clean, self.cache = root, clean, cache
        self.fresh: dict[str, Digest] = {}

    def __call__(self, rel: str) -> Digest | None:
        oid = self.clean.get(rel)
        hit = self.cache.get(oid) if oid else None
        if hit:
            return hit
        found = of_file(f"{self.root}/{rel}")  # a plain string: pathlib costs more than hashing a small file
        if found and oid:
            self.cache.put(oid, found)
            self.fresh[oid] = found
        return found

    def learned(self) -> dict[str, Digest]:
        """What was hashed since the last call (blob id -> digest)."""
        out, self.fresh = self.fresh, {}
        return out

    def learn(self, found: dict[str, Digest]) -> None:
        for oid, digest in found.items():
            self.cache.put(oid, digest)


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
