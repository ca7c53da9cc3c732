"""The pull-request gate: what a change does when it lands, judged by the base's rules.

Every side is read from git the same way: a ref's tree, or the working tree as a commit of its
uncommitted changes (gitops.worktree_commit), so a symlink is a symlink on both sides and is never
followed. A pull request is judged by its merge into the current tip of the base (`git merge-tree`): the
PR's own change (from the merge-base) applied to what the base holds now, so a branch behind the base is
not refused for what the base gained meanwhile, and the second of two parallel promotions to an exclusive
stage fails once the first has landed. Only the models the change touches are read (plus the models their
lineage names), whatever the registry's size. Change computation stays in changes.py; rendering in cli/.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..core.changes import AttributesChanged, ChangeSet, MergeConflict, State, SymlinkFound, between, read_state
from ..core.files import MODEL_FILE, REGISTRY_DIR, SETTINGS_FILE, VERSION_FILE, RegistryFiles
from ..core.records import NAME_RE
from ..storage import gitops
from ..storage.gitops import GATED_PATHS, SUBMODULE_MODE, SYMLINK_MODE, Entry


@dataclass
class Side:
    """One registry tree: how it is named to the user, its commit, and what git reads it by."""

    label: str
    commit: str | None
    treeish: str


@dataclass
class Read:
    """A side read for some models: its state, a RegistryFiles over the materialised files, and its file list."""

    state: State
    registry: RegistryFiles
    files: dict[str, Entry]


class _Reader:
    """Materialises registry trees into a temp folder: metadata files with content, artifacts as empty
    placeholders (their blob ids stay in `files`), symlinks and submodule links never (noted in the state)."""

    def __init__(self, root: Path, tmp: Path, memory: Path | None = None):
        self.root, self.tmp, self.memory, self.count = root, tmp, memory, 0

    def read(self, side: Side, models: set[str] | None) -> Read:
        paths = (
            list(GATED_PATHS) if models is None else [SETTINGS_FILE, *(f"{REGISTRY_DIR}/{m}" for m in sorted(models))]
        )
        files = gitops.listing(self.root, side.treeish, paths) if paths else {}
        wanted = {
            e.oid for p, e in files.items() if e.mode == SYMLINK_MODE or (_is_metadata(p) and e.mode != SUBMODULE_MODE)
        }
        contents = gitops.blobs(self.root, wanted)
        self.count += 1
        links: dict[str, str | None] = {}
        for path, e in files.items():
            if e.mode == SYMLINK_MODE:
                links[path] = contents.get(e.oid, b"").decode("utf-8", "replace")
            elif e.mode == SUBMODULE_MODE:
                links[path] = None
        plain = {p: contents.get(e.oid, b"") if _is_metadata(p) else b"" for p, e in files.items() if p not in links}
        dest = None
        if self.memory is not None and sum(map(len, contents.values())) < MEMORY_READ:
            dest = _write(self.memory / str(self.count), plain)
        if dest is None:
            dest = _write(self.tmp / str(self.count), plain, strict=True)
        assert dest is not None
        store = RegistryFiles(dest)
        state = read_state(store, side.label, side.commit, {p: e.oid for p, e in files.items()})
        state.links = links
        return Read(state, store, files)


MEMORY_READ = 4 << 20  # bytes of registry files a read may put in a memory-backed folder


def _write(dest: Path, files: dict[str, bytes], strict: bool = False) -> Path | None:
    """The files written under `dest` (paths that could leave it skipped); None when the folder is full and
    not `strict` (the caller writes them elsewhere)."""
    made: set[str] = set()
    try:
        os.mkdir(dest)
        for path, data in files.items():
            if not _safe(path):
                continue
            folder = os.path.dirname(path)
            if folder and folder not in made:
                os.makedirs(dest / folder, exist_ok=True)
                made.add(folder)
            fd = os.open(dest / path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
    except OSError:
        if strict:
            raise
        shutil.rmtree(dest, ignore_errors=True)
        return None
    return dest


def _memory_folder() -> str | None:
    """A memory-backed folder for the gate's few hundred small files (/dev/shm on Linux), when there is one:
    on a disk-backed temp folder, writing and removing them is a good part of the gate's time."""
    shm = "/dev/shm"
    return shm if sys.platform.startswith("linux") and os.access(shm, os.W_OK | os.X_OK) else None


def _is_metadata(path: str) -> bool:
    return path == SETTINGS_FILE or (
        path.startswith(f"{REGISTRY_DIR}/") and path.rsplit("/", 1)[-1] in (MODEL_FILE, VERSION_FILE)
    )


def _safe(path: str) -> bool:
    return not path.startswith("/") and ".." not in path.split("/")


def _touched(root: Path, old: str, new: str) -> tuple[set[str] | None, bool]:
    """Model folders (or stray registry/ entries) a change touches (None when it edits mlreg.yaml: all),
    and whether it changes files outside the registry too."""
    paths, outside = gitops.changed(root, old, new)
    if SETTINGS_FILE in paths:
        return None, outside
    return {p.split("/")[1] for p in paths if p.startswith(f"{REGISTRY_DIR}/")}, outside


def _lineage_models(state: State) -> set[str]:
    """Models named as the base of a version in this state."""
    found = set()
    for versions in state.versions.values():
        for doc in versions.values():
            base = ((doc or {}).get("lineage") or {}).get("base") if isinstance(doc, dict) else None
            if isinstance(base, dict) and isinstance(base.get("model"), str) and NAME_RE.match(base["model"]):
                found.add(base["model"])  # a name that is no model folder name is never a path to read
    return found


def _pair(reader: _Reader, old: Side, new: Side, models: set[str] | None) -> tuple[Read, Read]:
    """Both sides read for the touched models, grown until every named lineage base is read too."""
    while True:
        a, b = reader.read(old, models), reader.read(new, models)
        if models is None:
            return a, b
        more = (_lineage_models(b.state) | _lineage_models(a.state)) - models
        more = {m for m in more if m}
        if not more:
            return a, b
        models = models | more


@dataclass
class Verdict:
    """What the gate found: the change set (for diff) and every problem (for validate --base)."""

    changes: ChangeSet
    problems: list[str]


@contextmanager
def _reader(root: Path) -> Iterator[_Reader]:
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="mlreg-gate-"))
        shm = _memory_folder()
        memory = stack.enter_context(tempfile.TemporaryDirectory(prefix="mlreg-gate-", dir=shm)) if shm else None
        yield _Reader(Path(root), Path(tmp), Path(memory) if memory else None)


def pull_request(root: Path, base: str, head: str | None = None, structure: bool = True) -> Verdict:
    """HEAD (a ref, or the working tree) merged into BASE's tip, compared with BASE by BASE's rules;
    with `structure`, plus every invariant of the merged registry for the models the change touches."""
    from ..core.checks import registry_problems
    from ..storage.digests import cache_for, tree_hasher

    root = Path(root)
    base_commit = gitops.commits(root, base)[0]
    head_commit, clean = (gitops.commits(root, head)[0], True) if head else gitops.worktree_commit(root)
    if head is None and clean:  # a clean working tree is HEAD itself; uncommitted edits have no commit to show
        head = "HEAD"
    shown = head_commit if head else None
    head_label = head or "working tree"
    merged = gitops.merge_into(root, base_commit, head_commit)
    if merged.tree is None:
        cs = ChangeSet(base, head_label, base_commit, shown)
        cs.changes = [MergeConflict(_model_of(p), p, base) for p in merged.conflicts]
        return Verdict(cs, cs.problems())
    if gitops.merge_base(root, base_commit, head_commit) != base_commit:  # the branch is behind BASE
        head_label += f" merged into {base}"
    old = Side(base, base_commit, base_commit)
    new = Side(head_label, shown, merged.tree)
    with _reader(root) as reader:
        models, outside = _touched(root, base_commit, merged.tree)
        a, b = _pair(reader, old, new, models)
        cs = between(a.state, b.state)
        if outside or models is None:  # a change to a file a committed link points at is a registry change
            cs.changes += _other_links(root, merged.tree, cs)
        cs.changes += _attributes(root, base_commit, merged.tree)
        if not structure:
            return Verdict(cs, cs.problems())
        rules = [a.state.settings()]
        if b.state.settings_doc != a.state.settings_doc:
            rules.append(b.state.settings())
        cache = cache_for(root, lazy=True)  # reads a few models: never parse or rewrite the whole cache
        blob_ids = {p: e.oid for p, e in b.files.items()}
        hasher = tree_hasher(root, blob_ids, cache, [p for p in blob_ids if not _is_metadata(p)])
        problems = registry_problems(b.registry, hasher, rules=rules)
        problems += _name_collisions(root, merged.tree, models)
        cache.save()
    return Verdict(cs, list(dict.fromkeys(problems + cs.problems())))


def _other_links(root: Path, tree: str, cs: ChangeSet) -> list[SymlinkFound]:
    """Symlinks anywhere in the registry that lands, not only in what the change touches: a link committed
    earlier (before the gate refused links) lets a change to its target outside registry/ rewrite a record
    with no registry diff at all. Links in the touched models are found anyway; plain `validate` finds
    every link in the working tree."""
    seen = {c.file for c in cs.of(SymlinkFound)}
    found = gitops.links(root, tree)
    targets = gitops.blobs(root, {e.oid for p, e in found.items() if e.mode == SYMLINK_MODE and p not in seen})
    return [
        SymlinkFound(
            _model_of(p), p, targets.get(e.oid, b"").decode("utf-8", "replace") if e.mode == SYMLINK_MODE else None
        )
        for p, e in sorted(found.items())
        if p not in seen
    ]


def _attributes(root: Path, base: str, tree: str) -> list[AttributesChanged]:
    """Every .gitattributes reaching registry/ that the change adds, edits or removes; the one exception is
    what register itself writes: registry/.gitattributes with mlreg's own text where the base had none."""
    from ..storage.txn import ATTRIBUTES, ATTRIBUTES_TEXT

    out = []
    for path, rel in gitops.attribute_changes(root, base, tree):
        if rel == ATTRIBUTES and not gitops.listing(root, base, [ATTRIBUTES]):
            new = gitops.listing(root, tree, [ATTRIBUTES]).get(ATTRIBUTES)
            if new and new.mode == "100644" and gitops.blobs(root, {new.oid}).get(new.oid) == ATTRIBUTES_TEXT:
                continue
        out.append(AttributesChanged(_model_of(rel or ""), rel or path))
    return out


def _name_collisions(root: Path, tree: str, models: set[str] | None) -> list[str]:
    """Model folders of the registry that lands which are one name ignoring case and Unicode normalisation
    (read from the whole tree's folder list: the other spelling may be a model the change does not touch)."""
    from ..core.checks import name_collisions
    from ..core.scan import collisions

    pairs = collisions(gitops.model_folders(root, tree))
    return [p for a, b in pairs if models is None or {a, b} & models for p in name_collisions([a, b])]


def _model_of(path: str) -> str:
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == REGISTRY_DIR else ""


def history(root: Path, base: str, head: str, steps: list[str]) -> ChangeSet:
    """A stretch of one branch's history, walked first parent by first parent: each commit (a merged pull
    request, a direct commit) compared with the one before it and judged by the rules in force then."""
    root = Path(root)
    base_commit, head_commit = gitops.commits(root, base, head)
    out = ChangeSet(base, head, base_commit, head_commit)
    parent = base_commit
    with _reader(root) as reader:
        for commit in steps:
            a, b = _pair(
                reader, Side(base, parent, parent), Side(head, commit, commit), _touched(root, parent, commit)[0]
            )
            out.changes += between(a.state, b.state).changes
            parent = commit
    return out


def compare(root: Path, base: str | None = None, head: str | None = None) -> ChangeSet:
    """`diff`: over a stretch of one branch's history (BASE on HEAD's first-parent line) each step once;
    otherwise what HEAD (default: the working tree) would change when merged into BASE (default: the
    default branch)."""
    root = Path(root)
    base = base or gitops.default_branch(root)
    if head is not None:
        base_commit, head_commit = gitops.commits(root, base, head)
        steps = gitops.first_parents(root, base_commit, head_commit)
        if steps is not None:
            return history(root, base, head, steps)
    return pull_request(root, base, head, structure=False).changes


def validate(root: Path, base: str, head: str | None = None) -> list[str]:
    """`validate --base`: every problem of the change HEAD makes when merged into BASE (empty when legal)."""
    return pull_request(root, base, head).problems
