"""Writes as transactions with one commit point, and the journal that finishes or undoes an interrupted one.

A write runs in phases:

1. check    refuse what would fail or sweep in the user's work (paths outside, uncommitted edits, held git locks)
2. prepare  every slow or failing step, invisible to the user: extra steps (`prepare_steps`, e.g. uploads),
            then every file becomes a blob in git's object store, then a tree and a commit object
3. commit   take `index.lock` (git's own lock, so no git command can touch the index meanwhile), write the
            journal, then the commit point: `git update-ref HEAD new old` (compare-and-swap)
4. settle   bring the index, then the work tree, to the new commit; release the lock; drop the journal

Killed before the commit point, HEAD, index and work tree are as they were; killed after it, the next mlreg
command (any command, reads included) finds the journal and brings the index and work tree to HEAD. Until
then git refuses to commit, stash or check out (the index is locked), so no ordinary git command can lose
the new version. `--branch` has no settle phase: its commit point is creating the branch.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.repo import Location
from ..errors import GitError
from . import gitops
from .gitops import Committed, Git, WriteSet
from .gitops.writes import FAULT_ENV, fault

__all__ = ["FAULT_ENV", "STEPS", "Transaction", "apply", "fault"]
STEPS = ("after-hashing", "after-objects", "after-journal", "after-branch", "after-index", "after-worktree")
JOURNAL = "mlreg-journal.json"
RECOVERED = "mlreg-recovered"  # in the git dir: bytes recovery found in a file it restored (never lost)
LOCK_MARK = b"mlreg transaction (the next mlreg command finishes it and removes this file)\n"
ATTRIBUTES = "registry/.gitattributes"
ATTRIBUTES_TEXT = (
    b"# mlreg: artifacts are stored byte-exact (no line-ending or filter conversion),\n"
    b"# so every clone checks out the bytes whose sha256 metadata.json records.\n"
    b"* -text -filter -ident\n"
)


# -- the write path ------------------------------------------------------------------------------
@dataclass
class Transaction:
    """One mutating operation: check, prepare (invisible), commit (one compare-and-swap), settle."""

    root: Path
    change: WriteSet
    branch: str | None = None
    prepare_steps: list[Callable[[Transaction], None]] = field(default_factory=list)
    snapshot: bool = False  # built on `base` (the commit the write read), not on whatever HEAD is now
    base: str | None = None
    base_branch: str | None = None  # the branch HEAD named when the write read `base` (None: detached)
    git: Git = field(init=False)
    old: str | None = field(init=False, default=None)
    new: str | None = field(init=False, default=None)
    blobs: dict[str, str | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.git = Git(self.root)

    @property
    def paths(self) -> list[str]:
        return sorted(self.change.files)

    def check(self) -> None:
        """Refuse, before anything is written, what this write must not do; note the HEAD it builds on."""
        self.old = self.base if self.snapshot else self.git.head()
        if self.snapshot and not self.branch:
            self._refuse_moved_head()
        gitops.refuse_escape(self.git.root, self.paths, self.change.new_folders)
        outside = [p for p in self.paths if not any(gitops.inside(p, f) for f in self.change.new_folders)]
        if not self.branch:  # --branch leaves the index and work tree alone: the user's changes there are safe
            gitops.refuse_dirty(self.git, [*self.change.new_folders, *outside])  # folders, not 30,000 file names
        if self.branch:
            self.git.run("check-ref-format", "--branch", self.branch)
            if self.git.ref_exists(f"refs/heads/{self.branch}"):
                raise GitError(f"branch {self.branch!r} already exists; choose another --branch name")
        else:
            refuse_held_locks(self.git.loc)

    def prepare(self) -> None:
        """Everything slow or failing, before anything visible: extra steps, blobs, tree and commit objects."""
        for step in self.prepare_steps:
            step(self)
        paths = {p: f for p in self.paths if isinstance(f := self.change.files[p], Path)}
        datas = {p: f for p in self.paths if isinstance(f := self.change.files[p], bytes)}
        self.blobs = {p: None for p in self.paths}
        self.blobs.update(zip(paths, self.git.hash_files(list(paths.values())), strict=True))
        self.blobs.update(zip(datas, self.git.hash_bytes(list(datas.values())), strict=True))
        fault("after-hashing")
        self.new = self.git.commit_tree(self.old, self.blobs, self.change.message())
        fault("after-objects")

    def commit(self) -> str:
        """The commit point; then the index and work tree are brought to the new commit."""
        assert self.new is not None, "prepare() builds the commit first"
        if self.branch:
            self.git.update_ref(f"refs/heads/{self.branch}", self.new, None, f"mlreg: {self.change.subject}")
            fault("after-branch")
            return self.new
        loc = self.git.loc
        take_index_lock(loc)
        try:
            if self.snapshot:  # checked again at the commit point, with the index locked (no checkout can run)
                self._refuse_moved_head()
            olds = self.git.tree_blobs(self.old, self._tracked_paths())
            journal = {
                "journal": 1,
                "action": self.change.action,
                "subject": self.change.subject,
                "old": self.old,
                "new": self.new,
                "prefix": loc.prefix,
                "files": {p: [olds.get(p), self.blobs[p]] for p in self.paths},
            }
            _write_journal(loc, journal)
            fault("after-journal")
            self.git.update_ref("HEAD", self.new, self.old, f"mlreg: {self.change.subject}")
        except BaseException as e:
            if self.git.head() == self.new:  # interrupted just after the commit point: the journal finishes it
                raise
            (loc.git_dir / JOURNAL).unlink(missing_ok=True)
            release_index_lock(loc)
            if isinstance(e, GitError) and "update-ref" in str(e):
                raise GitError(
                    f"{e}; HEAD was not moved, nothing changed (did another commit land meanwhile? rerun)"
                ) from None
            raise
        fault("after-branch")
        try:  # committed: from here a failure leaves the journal, so the next mlreg command finishes the job
            _settle(self.git, dict(self.blobs))
        except Exception as e:  # noqa: BLE001 - whatever failed, the user gets this one line, the journal the rest
            raise GitError(
                f"committed {self.new[:10]}, but updating the index and work tree failed ({e}); "
                "the next mlreg command finishes it"
            ) from None
        return self.new

    def _refuse_moved_head(self) -> None:
        """HEAD must still be the commit (and name the branch) this write read its versions from."""
        from .gitops import snapshot

        now = snapshot.take(self.root)
        if now != snapshot.Snapshot(self.base, self.base_branch):
            was = (self.base_branch or "a detached HEAD").removeprefix("refs/heads/")
            is_ = (now.branch or "a detached HEAD").removeprefix("refs/heads/")
            where = f"HEAD switched from {was} to {is_}" if was != is_ else f"{was} moved to another commit"
            raise GitError(
                f"{where} while this command was reading the registry (a checkout or a commit "
                "meanwhile); nothing was changed: rerun it"
            )

    def _tracked_paths(self) -> list[str]:
        return [p for p in self.paths if not any(gitops.inside(p, f) for f in self.change.new_folders)]


def apply(
    root: Path,
    change: WriteSet,
    commit: bool = True,
    branch: str | None = None,
    prepare_steps: list[Callable[[Transaction], None]] | None = None,
    *,
    base: str | None = None,
    base_branch: str | None = None,
    snapshot: bool = False,
) -> Committed:
    """Write one change: to the work tree only (commit=False), as a commit on HEAD, or as a new branch.

    With `snapshot`, the commit is built on `base` (the commit the change was read from, on branch
    `base_branch`) and lands only while HEAD is still exactly that: else nothing changes."""
    paths = sorted(change.files)
    if not commit:
        gitops.refuse_escape(Path(root), paths, change.new_folders)
        for step in prepare_steps or []:  # e.g. uploads: they fill in files before any is written
            step(Transaction(Path(root), change, branch))
        gitops.write_files(root, change)
        return Committed(paths)
    t = Transaction(Path(root), change, branch, list(prepare_steps or []), snapshot, base, base_branch)
    t.check()
    t.prepare()
    sha = t.commit()
    return Committed(paths, sha, branch)


SettlePlan = Callable[[Git, dict], tuple[list[str], list[str], list[str]]]


def _everything(g: Git, want: dict[str, str | None]) -> tuple[list[str], list[str], list[str]]:
    return [p for p, oid in want.items() if oid], [p for p, oid in want.items() if not oid], []


def _settle(g: Git, want: dict[str, str | None], plan: SettlePlan = _everything) -> list[str]:
    """Index, then work tree, to the new commit; then the lock is released and the journal dropped.

    `plan` says which files to write and remove (and which to keep: the user's); returns the kept ones."""
    loc = g.loc
    _replace_index(g, lambda tmp: g.set_index(tmp, want))
    fault("after-index")
    write, remove, kept = plan(g, want)
    for p in remove:
        (g.root / p).unlink(missing_ok=True)
        _prune_empty(g.root, Path(p).parent)
    _replace_index(g, lambda tmp: g.checkout(tmp, sorted(write)))
    fault("after-worktree")
    (loc.git_dir / JOURNAL).unlink(missing_ok=True)
    release_index_lock(loc)
    return kept


def _replace_index(g: Git, edit: Callable[[Path], None]) -> None:
    """Edit a copy of the user's index, then swap it in (we hold index.lock: nobody else writes it)."""
    # a name of this process's own: a git child of a killed mlreg may still be finishing with its temp index
    index, tmp = g.loc.git_dir / "index", g.loc.git_dir / f"mlreg-index.{os.getpid()}.tmp"
    if index.exists():
        shutil.copyfile(index, tmp)
    else:
        tmp.unlink(missing_ok=True)
    edit(tmp)
    os.replace(tmp, index)


# -- git's locks ----------------------------------------------------------------------------------
def _shown(loc: Location, path: Path) -> str:
    return path.relative_to(loc.top).as_posix() if path.is_relative_to(loc.top) else str(path)


def _held(loc: Location) -> list[Path]:
    """Lock files git (or an IDE) holds now that a commit on HEAD would need."""
    candidates = [loc.git_dir / "index.lock", loc.git_dir / "HEAD.lock"]
    head = loc.git_dir / "HEAD"
    try:
        text = head.read_text().strip()
    except OSError:
        text = ""
    if text.startswith("ref: "):
        candidates.append(loc.common_dir / (text[5:] + ".lock"))
    return [p for p in candidates if p.exists()]


def refuse_held_locks(loc: Location) -> None:
    """A held index.lock or HEAD.lock (another git process, an IDE) is refused before anything changes."""
    for path in _held(loc):
        if path.name == "index.lock" and _ours(path):
            continue  # a killed mlreg's: the journal recovery releases it
        shown = _shown(loc, path)
        raise GitError(
            f"{shown} exists: another git process (an editor or IDE?) is using this repository; "
            f"wait for it to finish, or if none is running, delete {shown} and rerun"
        )


def _ours(path: Path) -> bool:
    try:
        return path.read_bytes() == LOCK_MARK
    except OSError:
        return False


def take_index_lock(loc: Location) -> None:
    """Create index.lock exclusively, as git does, marked as mlreg's (refused if anyone holds it)."""
    path = loc.git_dir / "index.lock"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        if _ours(path):
            return
        shown = _shown(loc, path)
        raise GitError(
            f"{shown} exists: another git process is using this repository; wait for it to finish, "
            f"or if none is running, delete {shown} and rerun"
        ) from None
    with os.fdopen(fd, "wb") as f:
        f.write(LOCK_MARK)


def release_index_lock(loc: Location) -> None:
    path = loc.git_dir / "index.lock"
    if _ours(path):
        path.unlink(missing_ok=True)


# -- the journal -----------------------------------------------------------------------------------
def _write_journal(loc: Location, doc: dict) -> None:
    from .atomic import write_atomic

    write_atomic(loc.git_dir / JOURNAL, (json.dumps(doc) + "\n").encode())


def _prune_empty(root: Path, folder: Path) -> None:
    while folder.parts and folder.as_posix() != "registry":
        try:
            (root / folder).rmdir()
        except OSError:
            return
        folder = folder.parent
