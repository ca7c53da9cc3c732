"""The local cache of store-backed files: entries by sha256, checked again before they are served.

`<root>/files/ab/cdef...` holds each file once, named by the sha256 it was verified against when it entered (a
download enters only after its size and sha256 matched the record). Nothing hands an entry out: pulls place copies
(see pulling), so a write to a pulled file never reaches the cache. Every file the cache vouches for (an entry, or
a copy it placed) has a seal under `<root>/seals/`: the sha256 it held and its stat (size, mtime, ctime, inode,
device) at that moment. A file whose stat still matches its seal is served as it is; any other is hashed again,
and a mismatch is removed (an entry is then downloaded again, a placed copy copied again). ctime cannot be set
by a user, so even a write that restores the size and mtime is seen.

Downloads go to `<root>/tmp/dl-*`, each held under an exclusive lock (flock) while it lives: a pull that finds one
it can lock knows its owner died and removes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.records import Artifact
from ..errors import MlregError
from ..storage.digests import of_file

if TYPE_CHECKING:
    from .uploads import _Meter

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers older than a day are removed instead
    fcntl = None  # type: ignore[assignment]

STALE_WITHOUT_LOCKS = 86400.0  # seconds


def cache_dir() -> Path:
    """`$MLREG_CACHE`, else the platform's user cache folder + `mlreg`."""
    if os.environ.get("MLREG_CACHE"):
        return Path(os.environ["MLREG_CACHE"]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "mlreg"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "mlreg" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlreg"


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


@dataclass
class CacheCheck:
    """One file of the cache checked by `verify --cache`: ok, or mismatch / not-a-file / unrecorded (removed)."""

    path: str
    status: str  # ok | mismatch | not-a-file (bad) | unrecorded (a copy without a seal: placed again when used)
    expected: str | None = None
    actual: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class FileCache:
    """Files by sha256 under `<root>/files/ab/cdef...`, seals under `<root>/seals`, downloads under `<root>/tmp`."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else cache_dir()

    def entry(self, sha256: str) -> Path:
        return self.root / "files" / sha256[:2] / sha256[2:]

    # -- seals -------------------------------------------------------------------------------
    def _seal_file(self, path: Path) -> Path:
        key = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()
        return self.root / "seals" / key[:2] / key[2:]

    def seal(self, path: Path, sha256: str) -> None:
        """Record that `path` holds the bytes of `sha256` as of its current stat (best effort)."""
        from ..storage.atomic import write_atomic

        try:
            st = os.stat(path, follow_symlinks=False)
            doc = {"path": os.path.abspath(path), "sha256": sha256, "stat": _stat_key(st)}
            write_atomic(self._seal_file(path), (json.dumps(doc) + "\n").encode())
        except OSError:
            pass  # no seal: the next use hashes the file again

    def sealed(self, path: Path) -> str | None:
        """The sha256 `path` was sealed with, when its stat has not changed since; else None."""
        try:
            doc = json.loads(self._seal_file(path).read_text())
            same = doc["path"] == os.path.abspath(path) and doc["stat"] == _stat_key(
                os.stat(path, follow_symlinks=False)
            )
            return str(doc["sha256"]) if same else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def unseal(self, path: Path) -> None:
        self._seal_file(path).unlink(missing_ok=True)

    def holds(self, path: Path, sha256: str, size: int) -> bool:
        """Whether the plain file `path` holds exactly these bytes: by its seal, else hashed again (and sealed)."""
        if self.sealed(path) == sha256:
            return True
        if not os.path.lexists(path):
            return False
        if of_file(path) != (size, sha256):
            return False
        self.seal(path, sha256)
        return True

    # -- entries -----------------------------------------------------------------------------
    def has(self, a: Artifact) -> bool:
        """The entry for `a` exists with its bytes; a damaged entry is removed (the caller downloads it again)."""
        entry = self.entry(a.sha256)
        if self.holds(entry, a.sha256, a.size):
            return True
        self.drop(entry)
        return False

    def drop(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        self.unseal(path)

    def fetch(self, a: Artifact, meter: _Meter) -> None:
        """Download one stored file (never more than its recorded size), check its sha256 and size, and only then
        add it to the cache."""
        from .uploads import store_for

        fd, tmp = self._temp()
        try:
            uri = a.uri or ""
            sha = store_for(uri).download(uri, tmp, meter, limit=a.size)
            size = tmp.stat().st_size
            if size > a.size:
                raise MlregError(
                    f"{uri}: holds more than the {a.size} bytes the record says; the download was "
                    "stopped there and nothing was kept"
                )
            if sha != a.sha256 or size != a.size:
                raise MlregError(
                    f"{uri}: downloaded bytes do not match the record (sha256 {sha[:12]}..., "
                    f"expected {a.sha256[:12]}...; {size} bytes, expected {a.size}); the store "
                    "object was changed or damaged; the bytes were not kept"
                )
            os.chmod(tmp, 0o444)
            entry = self.entry(a.sha256)
            entry.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, entry)
            self.seal(entry, a.sha256)
        finally:
            tmp.unlink(missing_ok=True)
            os.close(fd)

    # -- temporary downloads -----------------------------------------------------------------
    def _temp(self) -> tuple[int, Path]:
        """A new `tmp/dl-*` file, locked for as long as its descriptor is open (so `clean_tmp` leaves it alone)."""
        tmpdir = self.root / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        while True:
            fd, name = tempfile.mkstemp(dir=tmpdir, prefix="dl-")
            if fcntl is None:
                return fd, Path(name)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:  # a cleaner may have taken it between mkstemp and flock: then try again
                return fd, Path(name)
            os.close(fd)

    def clean_tmp(self) -> int:
        """Remove the temporary downloads of pulls that died (their lock is free); returns how many."""
        import time

        removed = 0
        try:
            found = list((self.root / "tmp").glob("dl-*"))
        except OSError:
            return 0
        for p in found:
            try:
                if fcntl is None:
                    if time.time() - p.stat().st_mtime > STALE_WITHOUT_LOCKS:
                        p.unlink()
                        removed += 1
                    continue
                fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                p.unlink(missing_ok=True)
                removed += 1
            except OSError:
                pass  # locked: a pull is downloading into it right now
            finally:
                os.close(fd)
        return removed

    # -- verify --cache ----------------------------------------------------------------------
    def verify(self) -> list[CacheCheck]:
        """Hash every entry (against its name) and every placed copy in `versions/` (against its seal); remove
        what does not match, and temporary files of dead pulls."""
        self.clean_tmp()
        checks = [self._check(p, p.parent.name + p.name) for p in _files(self.root / "files")]
        for p in _files(self.root / "versions"):
            try:
                doc = json.loads(self._seal_file(p).read_text())
                expected = str(doc["sha256"]) if doc.get("path") == os.path.abspath(p) else None
            except (OSError, ValueError, KeyError, TypeError):
                expected = None
            checks.append(self._check(p, expected))
        for seal in _files(self.root / "seals"):  # seals of files that are gone (a pulled folder was deleted)
            try:
                if not os.path.lexists(json.loads(seal.read_text())["path"]):
                    seal.unlink()
            except (OSError, ValueError, KeyError, TypeError):
                seal.unlink(missing_ok=True)
        return checks

    def _check(self, path: Path, expected: str | None) -> CacheCheck:
        found = of_file(path)
        if found is None:
            self.drop(path)
            return CacheCheck(str(path), "not-a-file", expected)
        if expected is None or found[1] != expected:
            self.drop(path)
            return CacheCheck(str(path), "unrecorded" if expected is None else "mismatch", expected, found[1])
        self.seal(path, expected)
        return CacheCheck(str(path), "ok", expected, found[1])


def _files(top: Path) -> list[Path]:
    """Every file (and symlink) below `top`, sorted; nothing when it does not exist."""
    out = []
    for folder, dirs, names in os.walk(top):
        out += [Path(folder, n) for n in names if not n.endswith(".mlreg-tmp")]
        out += [Path(folder, d) for d in dirs if os.path.islink(os.path.join(folder, d))]
    return sorted(out)
