"""Fast reads of registry trees at a ref (for the pull-request gate, diff, report and digests): plain
subprocess, no GitPython import."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import GitError

# These run on every push in CI, on registries of 10,000 versions: each is one git process, and none
# touches the work tree, the index or a ref. They take and return registry-relative paths (the registry
# may sit in a folder of the work tree); git runs at the work tree's root with full paths.


SYMLINK_MODE, SUBMODULE_MODE = "120000", "160000"
GATED_PATHS = ("mlreg.yaml", "registry")
_IDENT = {
    "GIT_AUTHOR_NAME": "mlreg",
    "GIT_AUTHOR_EMAIL": "mlreg@localhost",
    "GIT_COMMITTER_NAME": "mlreg",
    "GIT_COMMITTER_EMAIL": "mlreg@localhost",
}


@functools.lru_cache(maxsize=16)
def _where(root: Path) -> tuple[Path, str]:
    """(work tree root, the registry folder's path prefix in it: '' or 'sub/dir/')."""
    from ...core.repo import of_root

    loc = of_root(root)
    return loc.top, loc.prefix


def _full(root: Path, paths: tuple[str, ...] | list[str]) -> list[str]:
    prefix = _where(root)[1]
    return [prefix + p for p in paths]


def _local(prefix: str, out: bytes) -> list[str]:
    """NUL-separated full paths -> registry-relative ones (paths outside the registry folder dropped)."""
    return [p[len(prefix) :] for p in out.decode("utf-8", "surrogateescape").split("\0") if p and p.startswith(prefix)]


def _read(
    root: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[int, bytes]:
    """Run one git command at the work tree's root; its exit status (one of `ok`, else a GitError with
    git's words) and stdout."""
    r = subprocess.run(
        ["git", "--literal-pathspecs", *args],
        cwd=_where(root)[0],
        input=stdin,
        capture_output=True,
        env={**os.environ, **env} if env else None,
    )
    if r.returncode not in ok:
        err = r.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {args[0]} failed: {err or f'exit status {r.returncode}'}")
    return r.returncode, r.stdout


@dataclass(frozen=True)
class Entry:
    """One file of a git tree: mode (100644, 100755, 120000 symlink, 160000 submodule) and object id."""

    mode: str
    oid: str


def commits(root: Path, *refs: str) -> list[str]:
    """The commit each ref names (one git call); an unknown ref is a GitError naming it."""
    if refs and not any(r.startswith("-") for r in refs):
        code, out = _read(root, "rev-parse", *[f"{r}^{{commit}}" for r in refs], ok=(0, 128))
        found = out.decode().split()
        if code == 0 and len(found) == len(refs):
            return found
    found = []
    for ref in refs:
        code, out = _read(root, "rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}", ok=(0, 1))
        if code:
            raise GitError(f"unknown git ref {ref!r}: expected a branch, tag or commit (fetch it first?)")
        found.append(out.decode().strip())
    return found


def listing(root: Path, treeish: str, paths: tuple[str, ...] | list[str] = GATED_PATHS) -> dict[str, Entry]:
    """Every file (blob, symlink, submodule) of a tree under `paths`: repo path -> Entry (one git call)."""
    if not paths:
        return {}
    prefix = _where(root)[1]
    _, out = _read(root, "ls-tree", "-r", "-z", "--full-tree", treeish, "--", *_full(root, paths))
    found = {}
    for rec in out.decode("utf-8", "surrogateescape").split("\0"):
        if rec:
            meta, path = rec.split("\t", 1)
            if path.startswith(prefix):
                mode, _kind, oid = meta.split()
                found[path[len(prefix) :]] = Entry(mode, oid)
    return found


def links(root: Path, treeish: str, paths: tuple[str, ...] = GATED_PATHS) -> dict[str, Entry]:
    """Every symlink and submodule link of a tree under `paths` (one git call; a byte scan when there is none)."""
    _, out = _read(root, "ls-tree", "-r", "-z", "--full-tree", treeish, "--", *_full(root, paths))
    if f"{SYMLINK_MODE} ".encode() not in out and f"{SUBMODULE_MODE} ".encode() not in out:
        return {}
    prefix, found = _where(root)[1], {}
    for rec in out.decode("utf-8", "surrogateescape").split("\0"):
        if rec.startswith((SYMLINK_MODE, SUBMODULE_MODE)):
            meta, path = rec.split("\t", 1)
            mode, _kind, oid = meta.split()
            found[path[len(prefix) :]] = Entry(mode, oid)
    return found


# `git diff-tree` reads the index before comparing two trees, which it never needs for a list of names:
# 0.12 s of a 200,000-file index on every call. Pointed at an index that cannot exist (its folder does
# not), git reads an empty one.
_NO_INDEX = {"GIT_INDEX_FILE": os.path.join(tempfile.gettempdir(), f"mlreg-no-index-{os.urandom(8).hex()}", "index")}


def _tree_diff(root: Path, old_tree: str, new_tree: str) -> tuple[str, ...]:
    """Every path (work-tree relative) that differs between two trees: one git call, identical subtrees
    skipped; kept per process when both are object ids (two ids always have the same difference)."""
    if all(len(t) in (40, 64) and not t.strip("0123456789abcdef") for t in (old_tree, new_tree)):
        return _diff_of_ids(root, old_tree, new_tree)
    return _diff_of_ids.__wrapped__(root, old_tree, new_tree)


@functools.lru_cache(maxsize=32)
def _diff_of_ids(root: Path, old_tree: str, new_tree: str) -> tuple[str, ...]:
    _, out = _read(root, "diff-tree", "-r", "-z", "--no-renames", "--name-only", old_tree, new_tree, env=_NO_INDEX)
    return tuple(p for p in out.decode("utf-8", "surrogateescape").split("\0") if p)


def changed(root: Path, old_tree: str, new_tree: str) -> tuple[list[str], bool]:
    """Paths of mlreg.yaml and registry/ that differ between two trees, and whether any file outside them
    differs too."""
    gated = tuple(_full(root, GATED_PATHS))
    paths = _tree_diff(root, old_tree, new_tree)
    inside = [p for p in paths if p == gated[0] or p.startswith(gated[1] + "/")]
    prefix = _where(root)[1]
    return [p[len(prefix) :] for p in inside], len(inside) < len(paths)


def blobs(root: Path, oids: list[str] | set[str]) -> dict[str, bytes]:
    """The bytes of each blob, read in one `git cat-file --batch`."""
    oids = sorted(set(oids))
    if not oids:
        return {}
    _, data = _read(root, "cat-file", "--batch", stdin=("\n".join(oids) + "\n").encode())
    out, pos = {}, 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        header = data[pos:eol].decode().split()
        if len(header) < 3:  # "<oid> missing"
            pos = eol + 1
            continue
        start = eol + 1
        out[header[0]] = data[start : start + int(header[2])]
        pos = start + int(header[2]) + 1
    return out


@dataclass
class Merge:
    """What `git merge-tree --write-tree` says of merging HEAD into BASE: the tree, or the conflicted paths."""

    tree: str | None
    conflicts: list[str]
    message: str = ""


def merge_into(root: Path, base: str, head: str) -> Merge:
    """The tree a merge of `head` into `base` would make, computed without touching the work tree or refs."""
    code, out = _read(root, "merge-tree", "--write-tree", "--name-only", "--no-messages", base, head, ok=(0, 1))
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    if code == 0:
        return Merge(lines[0].strip(), [])
    conflicts = []
    for line in lines[1:]:
        if not line.strip():
            break
        conflicts.append(line.strip())
    return Merge(None, sorted(set(conflicts)) or ["(unknown)"])


def first_parents(root: Path, base: str, head: str) -> list[str] | None:
    """The commits from `base` (exclusive) to `head` along first parents, oldest first; None when `base`
    is not on that chain (then the range is not a stretch of one branch's history)."""
    _, out = _read(root, "rev-list", "--first-parent", "--parents", "--reverse", f"{base}..{head}")
    rows = [line.split() for line in out.decode().splitlines() if line.strip()]
    if not rows:
        _, same = _read(root, "rev-parse", f"{head}^{{commit}}")
        return [] if same.decode().strip() == base else None
    if len(rows[0]) < 2 or rows[0][1] != base:
        return None
    return [r[0] for r in rows]


def first_parent(root: Path, commit: str) -> str | None:
    """The first parent of a commit (None for a root commit)."""
    code, out = _read(root, "rev-parse", "--verify", "-q", f"{commit}^1", ok=(0, 1))
    return out.decode().strip() if code == 0 else None


def head_commit(root: Path) -> str | None:
    """The commit HEAD points at (None on an unborn branch)."""
    code, out = _read(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", ok=(0, 1))
    return out.decode().strip() if code == 0 else None


def worktree_commit(root: Path) -> tuple[str, bool]:
    """(HEAD, True) when mlreg.yaml and registry/ have no uncommitted changes; else (a commit of HEAD plus
    them, False), built in a private index, never on a ref, so the work tree is read exactly as a commit
    is: symlinks stay symlinks, untracked files count, ignored files do not."""
    head_sha = head_commit(root)
    # tracked changes (stat-compared with the index, nothing hashed) and untracked files, in parallel
    tracked = (
        ["diff-index", "--name-only", "-z", "--no-renames", head_sha] if head_sha else ["ls-files", "-z", "--cached"]
    )
    gated = _full(root, GATED_PATHS)
    found = _parallel(
        root, [*tracked, "--", *gated], ["ls-files", "-z", "--others", "--exclude-standard", "--", *gated]
    )
    paths = sorted({p for out in found for p in out.decode("utf-8", "surrogateescape").split("\0") if p})
    if not paths and head_sha:
        return head_sha, True
    with tempfile.TemporaryDirectory(prefix="mlreg-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_IDENT}
        _read(root, "read-tree", *([head_sha] if head_sha else ["--empty"]), env=env)
        if paths:
            names = "\0".join(paths).encode("utf-8", "surrogateescape") + b"\0"
            _read(root, "update-index", "--add", "--remove", "-z", "--stdin", stdin=names, env=env)
        _, tree = _read(root, "write-tree", env=env)
        parents = ["-p", head_sha] if head_sha else []
        _, sha = _read(root, "commit-tree", tree.decode().strip(), *parents, "-m", "mlreg: working tree", env=env)
    return sha.decode().strip(), False


def _parallel(root: Path, *commands: list[str]) -> list[bytes]:
    """Run git commands side by side (each reads the work tree); their outputs, or a GitError."""
    return _started(root, *commands)()


def common_dir(root: Path) -> Path:
    """The repository's shared git directory (the same for every linked worktree); no git call."""
    from ...core.repo import of_root

    return of_root(root).common_dir


# a regular file at stage 0 in `ls-files -s -v -z` output, matched only at the start of a record, and only
# when tagged H: git compares it with the work tree (not marked assume-unchanged, h, or skip-worktree, S)
_STAGED_FILE = re.compile(r"(?<![^\0])H (?:100644|100755) ([0-9a-f]+) 0\t([^\0]*)\0")


def clean_blob_ids(root: Path, path: str = "registry") -> dict[str, str]:
    """Blob id of every regular file under `path` whose work-tree copy git knows is unchanged since the
    index recorded it (stat data matches; files marked assume-unchanged or skip-worktree, which git stops
    comparing, never count): repo path -> blob id. Two git calls; nothing is hashed."""
    return clean_blob_ids_later(root, path)()


def clean_blob_ids_later(root: Path, path: str = "registry") -> Callable[[], dict[str, str]]:
    """`clean_blob_ids`, its two git calls started now: the call it returns waits for them (the caller does
    other work meanwhile; their output goes to temp files, so git never waits for a reader)."""
    prefix = _where(root)[1]
    where = prefix + path
    listed = ["ls-files", "-s", "-v", "-z", "--", where]  # -v tags each file: H when git compares it
    pending = _started(root, listed, ["diff-files", "--name-only", "-z", "--", where])

    def finish() -> dict[str, str]:
        staged, dirty = pending()
        text = staged.decode("utf-8", "surrogateescape")  # 200,000 records on a big registry: one regex pass
        found = {rel[len(prefix) :]: oid for oid, rel in _STAGED_FILE.findall(text) if rel.startswith(prefix)}
        for rel in _local(prefix, dirty):
            found.pop(rel, None)
        return found

    return finish


def _started(root: Path, *commands: list[str]) -> Callable[[], list[bytes]]:
    """Git commands started side by side, writing to temp files; the call returned waits for them and gives
    their outputs (or a GitError)."""
    top = _where(root)[0]
    runs = []
    for c in commands:
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        runs.append(
            (c, subprocess.Popen(["git", "--literal-pathspecs", *c], cwd=top, stdout=out, stderr=err), out, err)
        )

    def wait() -> list[bytes]:
        outs = []
        for c, proc, out, err in runs:
            with out, err:
                if proc.wait():
                    err.seek(0)
                    raise GitError(f"git {c[0]} failed: {err.read().decode('utf-8', 'replace').strip()}")
                out.seek(0)
                outs.append(out.read())
        return outs

    return wait


def attribute_changes(root: Path, old_tree: str, new_tree: str) -> list[tuple[str, str | None]]:
    """Every .gitattributes that applies to the registry (at the top, in a folder above the registry folder, or
    anywhere under registry/) and differs between two trees (added, changed or removed): (its work-tree path,
    its registry-relative path or None for one above the registry folder)."""
    prefix = _where(root)[1]
    parts = prefix.rstrip("/").split("/") if prefix else []
    above = {"/".join([*parts[:i], ".gitattributes"]) for i in range(len(parts) + 1)}
    paths = _tree_diff(root, old_tree, new_tree)
    return [
        (p, None if p in above else p[len(prefix) :])
        for p in paths
        if p.rsplit("/", 1)[-1] == ".gitattributes" and (p in above or p.startswith(f"{prefix}registry/"))
    ]


def model_folders(root: Path, treeish: str) -> list[str]:
    """The names of the entries directly in registry/ of a tree (one git call, not recursive)."""
    prefix = _where(root)[1]
    _, out = _read(root, "ls-tree", "-z", "--name-only", "--full-tree", treeish, "--", f"{prefix}registry/")
    return [p.rsplit("/", 1)[-1] for p in out.decode("utf-8", "surrogateescape").split("\0") if p]
