"""One snapshot per write: the commit a write extends, the repository states a write refuses, and the registry
files of that commit read straight from git (`TreeFiles`), never from the work tree.

A write that commits takes its version numbers and every record it builds on from the commit it will extend
(HEAD when the write starts, under mlreg's writer lock); the commit point is a compare-and-swap against that
same commit. So a checkout between the two, a sparse checkout (folders missing from the work tree) or a deleted
folder can never make a write rewrite a version that exists in git.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.files import (
    MODEL_FILE,
    REGISTRY_DIR,
    SETTINGS_FILE,
    VERSION_FILE,
    RegistryFiles,
    _unchecked,
    parse_json,
    parse_version_dirname,
    parse_yaml,
    version_dirname,
)
from ...core.records import NAME_RE, Model, Version
from ...errors import GitError, MlregError, NotFound
from .trees import SYMLINK_MODE, Entry, _read, _where, blobs

TREE_MODE = "040000"

# git's own marks of an operation in progress (in the work tree's git dir), and how to leave it
IN_PROGRESS = (
    ("rebase-merge", "a rebase", "git rebase --continue` or `git rebase --abort"),
    ("rebase-apply", "a rebase (or `git am`)", "git rebase --continue` or `git rebase --abort"),
    ("MERGE_HEAD", "a merge", "git commit` (to conclude it) or `git merge --abort"),
    ("CHERRY_PICK_HEAD", "a cherry-pick", "git cherry-pick --continue` or `git cherry-pick --abort"),
    ("REVERT_HEAD", "a revert", "git revert --continue` or `git revert --abort"),
    ("sequencer", "a cherry-pick or revert of several commits", "git cherry-pick --abort"),
    ("BISECT_LOG", "a bisect", "git bisect reset"),
)


@dataclass(frozen=True)
class Snapshot:
    """The commit a write builds on (None on an unborn branch) and the branch HEAD names (None: detached)."""

    commit: str | None
    branch: str | None


def take(root: Path) -> Snapshot:
    """HEAD's commit (one git call) and the branch it names (read from the HEAD file, as git writes it)."""
    from ...core.repo import of_root

    try:
        text = (of_root(root).git_dir / "HEAD").read_text().strip()
    except OSError:
        text = ""
    branch = text[5:].strip() if text.startswith("ref: ") else None
    code, out = _read(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", ok=(0, 1))
    return Snapshot(out.decode().strip() if code == 0 else None, branch)


def operation_in_progress(git_dir: Path) -> tuple[str, str] | None:
    """(what, how to finish it) of the git operation stopped in this work tree, or None (no git call)."""
    for mark, what, how in IN_PROGRESS:
        if (git_dir / mark).exists():
            return what, how
    return None


def refuse_unsafe_state(root: Path, snap: Snapshot, *, on_head: bool, allow_detached: bool) -> None:
    """Refuse a write during a rebase, merge, cherry-pick, revert or bisect (its commit would be dropped or
    swept into theirs), and a commit on a detached HEAD (no branch keeps it) unless `allow_detached`."""
    from ...core.repo import of_root

    loc = of_root(root)
    stopped = operation_in_progress(loc.git_dir)
    if stopped:
        what, how = stopped
        raise GitError(
            f"{what} is in progress in this repository; mlreg writes nothing until it is finished "
            f"(`{how}`), so the registry is never changed inside it"
        )
    if on_head and snap.branch is None and snap.commit is not None and not allow_detached:
        raise GitError(
            f"HEAD is detached (at {snap.commit[:10]}): a commit here is on no branch and is easily "
            "lost; switch to a branch (`git switch NAME`, or `git switch -c NAME` to keep this point), "
            "or pass --branch NAME, or --allow-detached to commit on the detached HEAD anyway"
        )


def is_shallow(root: Path) -> bool:
    """Whether this clone's history is cut short (`git clone --depth`): deleted versions may be out of sight."""
    from ...core.repo import of_root

    return (of_root(root).common_dir / "shallow").exists()


def refuse_shallow(root: Path) -> None:
    """New version numbers are never reused; in a shallow clone a deleted number cannot be proven unused."""
    if is_shallow(root):
        raise GitError(
            "this is a shallow clone (its history is cut short), so mlreg cannot prove a version number "
            "was never used and deleted before; fetch the whole history first (`git fetch --unshallow`)"
        )


class TreeFiles(RegistryFiles):
    """The registry files of one commit, read from git's objects (paths stay those of the work tree, where the
    write will land). Folders are listed once and records are read in one batch per model."""

    def __init__(self, root: Path, commit: str | None):
        super().__init__(root)
        self.commit = commit
        self._folders: dict[str, dict[str, Entry]] = {}
        self._exact: dict[str, Entry | None] = {}
        self._bytes: dict[str, bytes] = {}

    # -- the tree ---------------------------------------------------------------------------------
    def _folder(self, rel: str) -> dict[str, Entry]:
        """name -> Entry of the folder `rel` ('' the registry folder) at the commit (one git call, cached)."""
        if rel not in self._folders:
            found: dict[str, Entry] = {}
            if self.commit:
                full = _where(self.root)[1] + (rel + "/" if rel else "")
                args = ["ls-tree", "-z", "--full-tree", self.commit] + (["--", full] if full else [])
                for rec in _read(self.root, *args)[1].decode("utf-8", "surrogateescape").split("\0"):
                    if rec:
                        meta, path = rec.split("\t", 1)
                        mode, _kind, oid = meta.split()
                        found[path.rsplit("/", 1)[-1]] = Entry(mode, oid)
            self._folders[rel] = found
        return self._folders[rel]

    def entry(self, rel: str) -> Entry | None:
        """The tree entry of a registry-relative path at the commit (None when there is none)."""
        if rel in self._exact:
            return self._exact[rel]
        parent, _, name = rel.rpartition("/")
        return self._folder(parent).get(name)

    def exists(self, rel: str) -> bool:
        return self.entry(rel) is not None

    def _prefetch(self, rels: list[str]) -> None:
        """Entries and bytes of many files in two git calls (ls-tree of exact paths, then cat-file --batch)."""
        rels = [r for r in rels if r not in self._bytes]
        if not rels or not self.commit:
            return
        prefix = _where(self.root)[1]
        out = _read(self.root, "ls-tree", "-z", "--full-tree", self.commit, "--", *[prefix + r for r in rels])[1]
        self._exact.update({r: None for r in rels})
        for rec in out.decode("utf-8", "surrogateescape").split("\0"):
            if rec:
                meta, path = rec.split("\t", 1)
                mode, _kind, oid = meta.split()
                self._exact[path[len(prefix) :]] = Entry(mode, oid)
        wanted = {
            r: e.oid for r in rels if (e := self._exact[r]) is not None and e.mode not in (SYMLINK_MODE, TREE_MODE)
        }
        got = blobs(self.root, set(wanted.values()))
        self._bytes.update({r: got[oid] for r, oid in wanted.items() if oid in got})

    def read(self, rel: str) -> bytes:
        """A file's bytes at the commit; FileNotFoundError when missing, an error naming a symlink."""
        e = self.entry(rel)
        if e is None or e.mode == TREE_MODE:
            raise FileNotFoundError(rel)
        if e.mode == SYMLINK_MODE:
            raise MlregError(
                f"{rel}: is a symbolic link; nothing under {REGISTRY_DIR}/ and no {SETTINGS_FILE} "
                "may be a symlink (mlreg never reads through one)"
            )
        if rel not in self._bytes:
            self._bytes.update({rel: blobs(self.root, [e.oid])[e.oid]})
        return self._bytes[rel]

    # -- RegistryFiles reads, from the commit -------------------------------------------------------------
    def read_settings_doc(self) -> dict[str, Any]:
        if not self.exists(SETTINGS_FILE):
            return {}
        doc = _yaml(self.read(SETTINGS_FILE), SETTINGS_FILE)
        if doc is not None and not isinstance(doc, dict):
            raise MlregError(f"{SETTINGS_FILE}: $: expected a mapping of settings, got {type(doc).__name__}")
        return doc if doc is not None else {}

    def model_names(self) -> list[str]:
        return sorted(n for n, e in self._folder(REGISTRY_DIR).items() if e.mode == TREE_MODE and NAME_RE.match(n))

    def version_numbers(self, name: str) -> list[int]:
        folder = self._folder(f"{REGISTRY_DIR}/{name}") if self.has_model(name) else {}
        nums = [parse_version_dirname(n) for n, e in folder.items() if e.mode == TREE_MODE]
        return sorted(n for n in nums if n is not None)

    def has_model(self, name: str) -> bool:
        e = self.entry(f"{REGISTRY_DIR}/{name}")
        return e is not None and e.mode == TREE_MODE

    def model(self, name: str, validate: bool = True) -> Model:
        frel = f"{REGISTRY_DIR}/{name}"
        e = self.entry(frel)
        if e is not None and e.mode == SYMLINK_MODE:
            raise MlregError(
                f"{frel}: is a symbolic link; nothing under {REGISTRY_DIR}/ may be a symlink "
                "(mlreg never reads through one)"
            )
        if e is None or e.mode != TREE_MODE:
            raise NotFound(f"model {name!r} not found in {REGISTRY_DIR}/ of commit {self._short()}")
        rel = f"{frel}/{MODEL_FILE}"
        if not self.exists(rel):
            return Model(name=name)
        doc = _yaml(self.read(rel), rel)
        model = (
            _unchecked(Model.from_dict, doc, rel, "model file")
            if not validate
            else Model.from_dict(self.checked("model", doc, rel))
        )
        if model.name != name:
            raise MlregError(f"{rel}: $.name: expected {name!r} (the folder name), got {model.name!r}")
        return model

    def version(self, name: str, version: int, validate: bool = True) -> Version:
        rel = f"{REGISTRY_DIR}/{name}/{version_dirname(version)}/{VERSION_FILE}"
        try:
            doc = parse_json(self.read(rel), rel)
        except FileNotFoundError:
            raise NotFound(f"{name} v{version} not found ({rel} does not exist in commit {self._short()})") from None
        if not validate:
            return _unchecked(Version.from_dict, doc, rel, "version record")
        return Version.from_dict(self.checked("model_version", doc, rel))

    def versions(self, name: str, validate: bool = True) -> list[Version]:
        nums = self.version_numbers(name)
        self._prefetch([f"{REGISTRY_DIR}/{name}/{version_dirname(n)}/{VERSION_FILE}" for n in nums])
        return [self.version(name, n, validate) for n in nums]

    def _short(self) -> str:
        return self.commit[:10] if self.commit else "(none yet)"


def _yaml(data: bytes, where: str) -> Any:
    """YAML text to data, each failure one line naming the file (as files.load_yaml says it)."""
    return parse_yaml(data, where)


def worktree_has(root: Path, rel: str) -> bool:
    """Whether a registry path exists in the work tree (a symlink counts: it is never followed)."""
    return os.path.lexists(Path(root) / rel)
