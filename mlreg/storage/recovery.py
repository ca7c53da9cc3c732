"""Recovery: the next mlreg command finishes or undoes an interrupted write (txn.py), from its journal.

The journal (`mlreg-journal.json` in the git dir) names the commit before and after the write and, for every
file the settle phase writes, the blob it held before and the blob it must hold after. Recovery brings each of
those files to one side: HEAD moved to the new commit, the write is finished; it did not, it is undone. A file
in the list that matches neither side was being written by mlreg when it was killed: it is restored, never kept
as "your changes" (bytes that are not a torn prefix of either side are saved under `mlreg-recovered/` first).
Temp files and folders a killed work-tree write left (`registry/<m>/.v2.tmp-*/`) are removed from its record.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.repo import Location, of_root
from ..errors import GitError
from . import gitops
from .gitops import Git
from .gitops.writes import TEMP_RECORD
from .txn import (
    JOURNAL,
    RECOVERED,
    _held,
    _ours,
    _settle,
    _shown,
    refuse_held_locks,
    release_index_lock,
    take_index_lock,
)


@contextmanager
def writing(root: Path, check_locks: bool = True) -> Iterator[list[str]]:
    """Hold mlreg's writer lock for a whole operation, after finishing any interrupted write (its note is
    yielded); with check_locks, a held index.lock / HEAD.lock is refused before any work starts."""
    with gitops.lock(root):
        notes = _recover_held(of_root(root))
        if check_locks:
            refuse_held_locks(of_root(root))
        yield notes


def recover(root: Path) -> list[str]:
    """Finish or undo an interrupted write of this repository (no-op, without running git, when there is none).

    Returns one line saying what was done. A live writer's journal is left alone (its lock is held)."""
    try:
        loc = of_root(root)
    except Exception:  # noqa: BLE001 - not a work tree we can read: nothing of ours to recover
        return []
    if (
        not (loc.git_dir / JOURNAL).exists()
        and not _ours(loc.git_dir / "index.lock")
        and not (loc.git_dir / TEMP_RECORD).exists()
    ):
        return []
    with gitops.lock(root, wait=False) as got:
        return _recover_held(loc) if got else []


def _recover_held(loc: Location) -> list[str]:
    """recover() with mlreg's writer lock already held (so no live mlreg owns the journal or a temp folder)."""
    temps = gitops.remove_recorded_temps(loc.git_dir)
    notes = (
        [
            f"mlreg: removed {', '.join(temps[:3])}{' and more' if len(temps) > 3 else ''}: left by an "
            "interrupted mlreg command"
        ]
        if temps
        else []
    )
    return notes + _finish_journal(loc)


def _finish_journal(loc: Location) -> list[str]:
    """Finish (HEAD moved to the journal's new commit) or undo (it did not) an interrupted commit."""
    path = loc.git_dir / JOURNAL
    if not path.exists():
        if _ours(loc.git_dir / "index.lock"):  # killed while taking or after releasing: nothing else left
            release_index_lock(loc)
            return ["mlreg: removed the index.lock an interrupted mlreg command left behind"]
        return []
    try:
        j = json.loads(path.read_text())
        what, old, new, files = j["subject"], j["old"], j["new"], j["files"]
        g = Git(loc.top / j["prefix"]) if j["prefix"] else Git(loc.top)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise GitError(
            f"{_shown(loc, path)}: unreadable journal of an interrupted mlreg command ({e}); "
            f"check `git status`, then delete it"
        ) from None
    head = g.head()
    # past the commit point's start (index.lock is ours): a ref lock holding NEW is its killed update-ref's
    freed = _release_killed_ref_locks(loc, new) if _ours(loc.git_dir / "index.lock") else []
    if head not in (old, new):
        path.unlink()
        release_index_lock(loc)
        return [
            f"mlreg: an interrupted `{what}` left a journal, but HEAD has moved on since; "
            "left the index and work tree as they are (check `git status`)"
        ]
    if head == old and not _ours(loc.git_dir / "index.lock"):
        path.unlink()  # killed before it took the index lock: nothing was touched
        return [f"mlreg: undid the interrupted `{what}`: it had not committed, nothing changed"]
    take_index_lock(loc)  # ours already (adopted), or taken now
    want = {p: (n if head == new else o) for p, (o, n) in files.items()}
    other = {p: (o if head == new else n) for p, (o, n) in files.items()}
    saved = _settle(g, want, lambda g_, w: _plan_restore(g_, w, other))
    keep = (
        f"; restored {', '.join(saved[:3])}, which matched neither side of it (the bytes found are saved "
        f"under {_shown(loc, loc.git_dir / RECOVERED)}/)"
        if saved
        else ""
    )
    keep += f"; removed the {', '.join(freed)} its killed `git update-ref` left" if freed else ""
    if head == new:
        return [f"mlreg: finished the interrupted `{what}` (commit {new[:10]}): index and work tree updated{keep}"]
    return [f"mlreg: undid the interrupted `{what}`: it had not committed, nothing changed{keep}"]


def _release_killed_ref_locks(loc: Location, new: str) -> list[str]:
    """The ref locks (HEAD's branch, HEAD) a `git update-ref HEAD NEW` killed mid-way left behind: git writes NEW
    into the lock file before it renames it into place, so a lock holding NEW (or nothing yet) is that one's.
    A lock holding anything else belongs to someone else and stays (the next write refuses it)."""
    freed = []
    for path in _held(loc):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if path.name != "index.lock" and text in ("", new):
            path.unlink(missing_ok=True)
            freed.append(_shown(loc, path))
    return freed


def _plan_restore(
    g: Git, want: dict[str, str | None], other: dict[str, str | None]
) -> tuple[list[str], list[str], list[str]]:
    """Which files to write and remove to reach `want`. Every file is one this write wrote: one matching neither
    side is restored too, never kept. A torn write (a prefix of either side: killed mid-write) is simply
    rewritten; any other bytes (an edit made while the write was interrupted) are first saved under the git dir,
    and returned as the third list."""
    root = g.root
    present = [p for p in want if (root / p).is_file() and not (root / p).is_symlink()]
    current = dict(zip(present, g.hash_files([root / p for p in present], write=False), strict=True))
    write: list[str] = []
    remove: list[str] = []
    saved: list[str] = []
    for p, oid in sorted(want.items()):
        now = current.get(p)
        if now == oid:
            continue
        if now is not None and now != other.get(p) and not _torn(g, root / p, [oid, other.get(p)]):
            _save(g, p)
            saved.append(p)
        (remove if oid is None else write).append(p)
    return write, remove, saved


def _torn(g: Git, path: Path, sides: list[str | None]) -> bool:
    """Whether a file holds the start of either side's bytes (what a write killed half-way leaves)."""
    data = path.read_bytes()
    whole = g.cat_blobs([oid for oid in sides if oid])
    return not data or any(b.startswith(data) for b in whole.values())


def _save(g: Git, rel: str) -> None:
    """Keep a copy of a file's bytes under the git dir before recovery overwrites it."""
    dest = g.loc.git_dir / RECOVERED / g.full(rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(g.root / rel, dest)
