"""What the read catalog (catalog.py) checks itself against: each model folder's and model.yaml's stat, the
version folders a model folder holds, and each metadata.json's stat.

A stat here is (mtime, ctime, size, inode), in nanoseconds. Writing a file changes its ctime (a program can
set the mtime back, never the ctime), replacing it changes its inode, and adding, removing or renaming a
version folder changes its model folder's stat: a stat equal to the one recorded when the file was read
means the file is the one that was read. Except within RACY_NS of the read: a change in the same clock tick
as the read leaves every stat field as it was, so a stat that recent is recorded as STALE, which no stat
equals (the file is read again next time).
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterable
from itertools import starmap
from operator import attrgetter
from typing import Any

from ..core import forked
from ..core.files import MODEL_FILE, VERSION_FILE, RegistryFiles
from ..core.records import NAME_RE
from ..errors import MlregError

RACY_NS = 2_000_000_000  # a file changed this close to a read may change again without its stat changing
STALE = (0, 0, 0, 0)  # recorded for what must be read again: equal to no stat
MISSING = (0, 0, 0, 1)  # no such file (a model folder without model.yaml): a stat like any other
STALE_ROW = array("q", STALE).tobytes()
_FOUR = attrgetter("st_mtime_ns", "st_ctime_ns", "st_size", "st_ino")

# A model entry, as kept in the catalog's head: (folder stat, model.yaml stat, version numbers, what
# `list` shows of model.yaml: (description, aliases), or None when it could not be read; an error in memory).
Entry = tuple[tuple, tuple, tuple, Any]


def stat_of(path: str) -> tuple[int, int, int, int]:
    try:
        return _FOUR(os.lstat(path))
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except OSError:
        return STALE


def marked(sig: tuple, since: int) -> tuple:
    """The stat to record: STALE when it is too recent to vouch for what was read."""
    return STALE if sig[0] >= since or sig[1] >= since else sig


def scan_models(
    store: RegistryFiles, old: dict[str, Entry], since: int, infos: bool = True
) -> tuple[dict[str, Entry], bool]:
    """Every model folder now, by name: an old entry's version numbers kept where the folder's stat is unchanged
    and its model.yaml where the file's is (not even checked without `infos`: the old entry's is kept, for
    model_rows to check), read again where not. Also whether anything was read again."""
    reg = str(store.registry_dir)
    try:
        with os.scandir(reg) as found:
            folders = sorted(
                (e.name, _FOUR(e.stat(follow_symlinks=False)))
                for e in found
                if e.is_dir(follow_symlinks=False) and NAME_RE.match(e.name)
            )
    except (FileNotFoundError, NotADirectoryError):
        folders = []
    out: dict[str, Entry] = {}
    changed = len(folders) != len(old)
    for name, dsig in folders:
        entry = old.get(name)
        ysig = stat_of(f"{reg}/{name}/{MODEL_FILE}") if infos else entry[1] if entry is not None else STALE
        if entry is not None and entry[0] == dsig and entry[1] == ysig:
            out[name] = entry
            continue
        changed = True
        nums = entry[2] if entry is not None and entry[0] == dsig else tuple(store.version_numbers(name))
        if not infos:
            info = entry[3] if entry is not None else None
        else:
            info = entry[3] if entry is not None and entry[1] == ysig else _info(store, name)
        out[name] = (dsig, ysig, nums, info)
    return out, changed


def _info(store: RegistryFiles, name: str) -> Any:
    try:
        model = store.model(name, validate=False)
        return model.description, dict(model.aliases)
    except MlregError as e:  # kept as the error (raised as reading the file would), read again next time
        return e


def recorded(models: dict[str, Entry], since: int) -> dict[str, Entry]:
    """The entries to write: recent stats marked STALE, and a model.yaml that could not be read as well."""
    out = {}
    for name, (dsig, ysig, nums, info) in models.items():
        bad = info is None or isinstance(info, Exception)  # None: not read (see scan_models)
        out[name] = (marked(dsig, since), STALE if bad else marked(ysig, since), nums, None if bad else info)
    return out


def stat_rows(store: RegistryFiles, groups: Iterable[tuple[str, tuple]]) -> bytes:
    """Each `registry/<name>/v<N>/metadata.json`'s stat, four int64 per version, in the order of `groups`
    ((name, version numbers) per model). The hot loop of every catalog read: one lstat per version, half of
    them in a forked child when there are many and a spare core (forked.py)."""
    reg = str(store.registry_dir)
    paths = [f"{folder}{n}/{VERSION_FILE}" for folder, nums in ((f"{reg}/{m}/v", ns) for m, ns in groups) for n in nums]
    if len(paths) < FORKED or not forked.spare_cores():
        return _stats(paths)
    half = len(paths) // 2
    return b"".join(forked.fork_map(_stats, [paths[:half], paths[half:]]))


FORKED = 10_000  # versions from which a child takes half the stats


def _stats(paths: list[str]) -> bytes:
    try:
        stats = list(map(os.lstat, paths))
    except OSError:  # a version folder without its record, or unreadable: one at a time
        return b"".join(starmap(_PACK, map(stat_of, paths)))
    return b"".join(starmap(_PACK, map(_FOUR, stats)))


_PACK = struct.Struct("=4q").pack  # as array("q") lays them out


def marked_rows(sigs: bytes, since: int, stale: Iterable[int] = ()) -> bytes:
    """The rows' stats to record: recent ones and those of rows in `stale` (unreadable) marked STALE."""
    a = array("q", sigs)
    recent = a and (max(a[0::4]) >= since or max(a[1::4]) >= since)
    rows = set(stale)
    if recent:
        rows.update(i >> 2 for i in range(0, len(a), 4) if a[i] >= since or a[i + 1] >= since)
    if not rows:
        return sigs
    for i in rows:
        a[4 * i : 4 * i + 4] = array("q", STALE)
    return a.tobytes()
