"""Every git call mlreg makes: commit exactly these paths, branch, lock, read trees at a ref."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GitError

Content = bytes | Path | None  # new bytes, a file to copy in, or None to delete


@dataclass
class ChangeSet:
    """What one mutating operation writes: files (relative to the repo root) and the commit it makes."""

    action: str
    model: str
    version: int | None
    subject: str
    files: dict[str, Content] = field(default_factory=dict)
    new_folders: list[str] = field(default_factory=list)  # folders created whole (temp folder, then rename)
    body: str = ""

    def message(self) -> str:
        trailers = [f"Mlreg-Action: {self.action}"] + ([f"Mlreg-Model: {self.model}"] if self.model else [])
        if self.version is not None:
            trailers.append(f"Mlreg-Version: {self.version}")
        body = f"{self.body.strip()}\n\n" if self.body.strip() else ""
        subject = " ".join(self.subject.split())  # a value with a newline must not end the subject
        return f"mlreg: {subject}\n\n{body}" + "\n".join(trailers) + "\n"


@dataclass
class Applied:
    """What apply() did: the paths written and the commit made (None with --no-commit)."""

    paths: list[str]
    commit: str | None = None
    branch: str | None = None


class Git:
    """A git work tree, driven through GitPython's command runner."""

    def __init__(self, root: Path):
        import git  # GitPython; deferred so read commands never pay for it

        self.root = Path(root)
        self._git = git.Git(str(root))
        self._exc = git.exc.GitCommandError

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
            strip: bool = True) -> str:
        """Run one git command; a failure becomes a GitError with git's own words."""
        full_env = {**os.environ, **env} if env else None
        try:
            if stdin is None:
                return self._git.execute(["git", *args], env=full_env, strip_newline_in_stdout=strip)
            with tempfile.TemporaryFile() as f:
                f.write(stdin)
                f.seek(0)
                return self._git.execute(["git", *args], env=full_env, istream=f,
                                         strip_newline_in_stdout=strip)
        except self._exc as e:
            err = (e.stderr or "").strip().replace("stderr: ", "").strip("'\n ")
            raise GitError(f"git {args[0]} failed: {err or e}") from None

    def head(self) -> str | None:
        """The commit HEAD points at, or None on an unborn branch."""
        try:
            return self.run("rev-parse", "-q", "--verify", "HEAD^{commit}")
        except GitError:
            return None

    def git_dir(self) -> Path:
        return (self.root / self.run("rev-parse", "--git-dir")).resolve()

    def dirty(self, paths: list[str]) -> list[str]:
        """Which of these paths (or files below them) differ from HEAD in the index or work tree."""
        if not paths:
            return []
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths, strip=False)
        return sorted({entry[3:] for entry in out.split("\0") if len(entry) > 3})

    def user(self) -> str:
        """`Name <email>` from git config, as commits will carry it."""
        ident = self.run("var", "GIT_AUTHOR_IDENT")
        return ident.rsplit(" ", 2)[0]

    def ref_exists(self, ref: str) -> bool:
        try:
            self.run("rev-parse", "-q", "--verify", ref)
            return True
        except GitError:
            return False


@contextmanager
def lock(root: Path) -> Iterator[None]:
    """An exclusive lock under .git/ held for a whole mutating operation (serialises registers)."""
    git_dir = Path(root) / ".git"
    if git_dir.is_file():  # a linked worktree: .git is a `gitdir: <path>` file
        git_dir = Path(git_dir.read_text().split(":", 1)[1].strip())
    with open(git_dir / "mlreg.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def apply(root: Path, change: ChangeSet, commit: bool = True, branch: str | None = None) -> Applied:
    """Write the change to the work tree and commit exactly its files; or commit it on a new branch only."""
    paths = sorted(change.files)
    _refuse_escape(Path(root), paths)
    if branch:  # the change was computed from the work tree, so its files must match HEAD
        g = Git(root)
        _refuse_dirty(g, paths)
        return Applied(paths, _commit_to_branch(g, change, branch), branch)
    if not commit:
        _write_files(root, change)
        return Applied(paths)
    g = Git(root)
    _refuse_dirty(g, paths)
    undo = _write_files(root, change)
    try:
        sha = _commit_on_head(g, change, paths)
    except BaseException:
        undo()
        raise
    return Applied(paths, sha)


def _refuse_escape(root: Path, paths: list[str]) -> None:
    """Never write through a symlink or outside the work tree (e.g. a model folder linked elsewhere)."""
    top = root.resolve()
    for rel in paths:
        path = Path(rel)
        if path.is_absolute() or ".." in path.parts:
            raise GitError(f"{rel}: refusing to write outside the repository")
        for parent in [root / p for p in reversed(path.parents[:-1])] + [root / path]:
            if parent.is_symlink() or (parent.exists() and not parent.resolve().is_relative_to(top)):
                raise GitError(f"{rel}: refusing to write through the symlink {parent.relative_to(root)}")


def clean_stale_temp(folder: Path) -> None:
    """Remove temp folders a killed mlreg left behind (call with the lock held: none can be live)."""
    if folder.is_dir():
        for stale in folder.glob(".v*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)


def _refuse_dirty(g: Git, paths: list[str]) -> None:
    dirty = g.dirty(paths)
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise GitError(
            f"{shown}: uncommitted changes in files this command writes; commit or stash them first, "
            "or pass --no-commit"
        )


def _write_files(root: Path, change: ChangeSet):
    """Write every file (new folders via temp folder + rename); return a function that undoes it."""
    from .store import write_atomic

    root = Path(root)
    folders = change.new_folders
    before = {rel: (root / rel).read_bytes() if (root / rel).is_file() else None for rel in change.files
              if not any(_inside(rel, f) for f in folders)}
    created: list[Path] = []  # folders this change made, undone newest first

    def undo() -> None:
        for folder in reversed(created):
            shutil.rmtree(folder, ignore_errors=True)
        for rel, old in before.items():
            if old is None:
                (root / rel).unlink(missing_ok=True)
            else:
                write_atomic(root / rel, old)

    try:
        for folder in folders:
            _write_folder(root, folder, change.files, created)
        for rel in before:
            for parent in reversed(Path(rel).parents[:-1]):
                if not (root / parent).exists():
                    created.append(root / parent)
            _put(root / rel, change.files[rel], write_atomic)
    except BaseException:
        undo()
        raise
    return undo


def _write_folder(root: Path, folder: str, files: dict[str, Content], created: list[Path]) -> None:
    """Write one new folder's files into a temp folder beside it, then rename it into place."""
    target = root / folder
    if target.exists():
        raise GitError(f"{folder}: already exists")
    if not target.parent.exists():
        target.parent.mkdir(parents=True)
        created.append(target.parent)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        for rel, content in files.items():
            if _inside(rel, folder):
                _put(tmp / Path(rel).relative_to(folder), content)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a version folder is not
        os.rename(tmp, target)
        created.append(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _inside(rel: str, folder: str | None) -> bool:
    return folder is not None and (rel == folder or rel.startswith(folder.rstrip("/") + "/"))


def _put(path: Path, content: Content, writer=None) -> None:
    if content is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Path):
        shutil.copyfile(content, path)
    elif writer:
        writer(path, content)
    else:
        path.write_bytes(content)


def _commit_on_head(g: Git, change: ChangeSet, paths: list[str]) -> str:
    head = g.head()
    blobs = _hash_worktree(g, [p for p in paths if change.files[p] is not None])
    sha = _commit_tree(g, head, change, blobs)
    args = ["update-ref", "-m", f"mlreg: {change.subject}", "HEAD", sha]
    g.run(*args, *([head] if head else []))
    # keep the user's index in step for exactly these paths, so they show as committed
    g.run("update-index", "--add", "--remove", "--", *paths)
    return sha


def _hash_worktree(g: Git, paths: list[str]) -> dict[str, str]:
    return _hash_files(g, {p: Path(p) for p in paths})


def _hash_files(g: Git, sources: dict[str, Path], *flags: str) -> dict[str, str]:
    """Write each source file as a blob; repo path -> blob id (paths relative to the work tree work too)."""
    if not sources:
        return {}
    names = [str(p) for p in sources.values()]
    out = g.run("hash-object", "-w", *flags, "--stdin-paths", stdin="\n".join(names).encode() + b"\n")
    return dict(zip(sources, out.split()))


def _commit_tree(g: Git, parent: str | None, change: ChangeSet, blobs: dict[str, str]) -> str:
    """Build a commit of `parent` plus the change, using a private index (the user's is untouched)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        g.run("read-tree", *([parent] if parent else ["--empty"]), env=env)
        lines = [f"100644 {blobs[p]}\t{p}" if p in blobs else f"0 {'0' * 40}\t{p}" for p in sorted(change.files)]
        g.run("update-index", "--index-info", env=env, stdin=("\n".join(lines) + "\n").encode())
        tree = g.run("write-tree", env=env)
    return g.run("commit-tree", tree, *(["-p", parent] if parent else []), stdin=change.message().encode())


def _commit_to_branch(g: Git, change: ChangeSet, branch: str) -> str:
    g.run("check-ref-format", "--branch", branch)
    if g.ref_exists(f"refs/heads/{branch}"):
        raise GitError(f"branch {branch!r} already exists; choose another --branch name")
    head = g.head()
    sources: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (rel, content) in enumerate(sorted(change.files.items())):
            if isinstance(content, bytes):
                sources[rel] = Path(tmp) / str(i)
                sources[rel].write_bytes(content)
            elif content is not None:
                sources[rel] = content
        blobs = _hash_files(g, sources, "--no-filters")  # one git call for every file
    sha = _commit_tree(g, head, change, blobs)
    g.run("branch", branch, sha)
    return sha


@dataclass
class CommitInfo:
    """One commit as history needs it."""

    sha: str
    at: str  # UTC ISO-8601
    author: str
    subject: str
    trailers: dict[str, str]


def log(root: Path, path: str) -> list[CommitInfo]:
    """Commits touching `path`, oldest first, with their Mlreg-* trailers (one git call)."""
    import datetime as dt

    g = Git(root)
    if g.head() is None:
        return []
    fmt = "%H%x1f%aI%x1f%an <%ae>%x1f%s%x1f%(trailers:only,unfold)%x1e"
    out = g.run("log", "--reverse", "--no-renames", f"--format={fmt}", "--", path, strip=False)
    commits = []
    for rec in out.split("\x1e"):
        parts = rec.strip("\n").split("\x1f")
        if len(parts) != 5:
            continue
        sha, at, author, subject, trailer_text = parts
        when = dt.datetime.fromisoformat(at).astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        trailers = dict(line.split(": ", 1) for line in trailer_text.splitlines() if ": " in line)
        commits.append(CommitInfo(sha, when, author, subject, trailers))
    return commits


# -- registry trees at a ref (for diff and validate --base) ----------------------------------------

_METADATA_NAMES = ("model.yaml", "metadata.json")


def registry_at(root: Path, ref: str, dest: Path) -> dict[str, str]:
    """Write the registry at REF into `dest`: metadata files with content, other files as empty
    placeholders (artifacts are never read); return {path: blob id} of every file (two git calls)."""
    g = Git(root)
    try:
        listing = g.run("ls-tree", "-r", "-z", "--full-tree", f"{ref}^{{tree}}", "--", "mlreg.yaml",
                        "registry", strip=False)
    except GitError:
        raise GitError(f"unknown git ref {ref!r}: expected a branch, tag or commit (fetch it first?)") from None
    entries = [_tree_entry(e) for e in listing.split("\0") if e]
    files = {path: (mode, oid) for mode, kind, oid, path in entries if kind == "blob" and _safe(path)}
    wanted = sorted({oid for path, (mode, oid) in files.items() if _is_metadata(path) or mode == "120000"})
    contents = _cat_blobs(g, wanted)
    for path, (mode, oid) in files.items():
        target = Path(dest) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            os.symlink(contents[oid].decode("utf-8", "replace"), target)
        else:
            target.write_bytes(contents[oid] if _is_metadata(path) else b"")
    return {path: oid for path, (mode, oid) in files.items()}


def _tree_entry(entry: str) -> tuple[str, str, str, str]:
    meta, path = entry.split("\t", 1)
    mode, kind, oid = meta.split()
    return mode, kind, oid, path


def _safe(path: str) -> bool:
    return not path.startswith("/") and ".." not in path.split("/")


def _is_metadata(path: str) -> bool:
    return path == "mlreg.yaml" or (path.startswith("registry/") and path.rsplit("/", 1)[-1] in _METADATA_NAMES)


def _cat_blobs(g: Git, oids: list[str]) -> dict[str, bytes]:
    """Every blob's bytes, read in one `git cat-file --batch`."""
    if not oids:
        return {}
    from git.compat import defenc

    raw = g.run("cat-file", "--batch", stdin=("\n".join(oids) + "\n").encode(), strip=False)
    data = raw.encode(defenc, "surrogateescape")  # GitPython decoded with surrogateescape: this is lossless
    out, pos = {}, 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        oid, _kind, size = data[pos:eol].decode().split()
        start = eol + 1
        out[oid] = data[start:start + int(size)]
        pos = start + int(size) + 1
    return out


def resolve_commit(root: Path, ref: str) -> str:
    """The commit a ref names, or a GitError naming the ref."""
    try:
        return Git(root).run("rev-parse", "-q", "--verify", f"{ref}^{{commit}}")
    except GitError:
        raise GitError(f"unknown git ref {ref!r}: expected a branch, tag or commit (fetch it first?)") from None


def merge_base(root: Path, a: str, b: str) -> str:
    """The best common ancestor of two refs."""
    try:
        return Git(root).run("merge-base", a, b)
    except GitError:
        raise GitError(f"{a} and {b} have no common history (git merge-base found none)") from None


def default_branch(root: Path) -> str:
    """The branch pull requests merge into: origin/HEAD, else origin/main, origin/master, main, master."""
    g = Git(root)
    try:
        return g.run("symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD")
    except GitError:
        pass
    for ref in ("origin/main", "origin/master", "main", "master"):
        if g.ref_exists(f"{ref}^{{commit}}"):
            return ref
    raise GitError("no default branch found (origin/HEAD, origin/main, origin/master, main or master); "
                   "name the base ref explicitly")


def last_commits(root: Path, path: str, depth: int = 3) -> dict[str, str]:
    """Newest commit touching each folder `depth` path parts deep below `path` (e.g. registry/<m>/v<N>): one git log."""
    g = Git(root)
    if g.head() is None:
        return {}
    out = g.run("log", "--no-renames", "-z", "--format=%x01%H", "--name-only", "--", path, strip=False)
    found: dict[str, str] = {}
    sha = None
    for field_ in out.split("\0"):
        field_ = field_.strip("\n")
        if field_.startswith("\x01"):
            head, _, first = field_[1:].partition("\n")
            sha, field_ = head, first.strip("\n")
        parts = field_.split("/")
        if sha and len(parts) > depth:
            found.setdefault("/".join(parts[:depth]), sha)
    return found


def deleted_versions(root: Path, model: str) -> dict[int, str]:
    """Version numbers whose metadata.json was deleted in history -> the deleting commit (one git call)."""
    g = Git(root)
    if g.head() is None:
        return {}
    out = g.run("log", "--diff-filter=D", "--no-renames", "--name-only", "--format=%x1e%H", "--",
                f"registry/{model}/*/metadata.json")
    found: dict[int, str] = {}
    for block in out.split("\x1e"):
        lines = block.strip().splitlines()
        for path in lines[1:]:
            folder = path.split("/")[2] if path.count("/") >= 3 else ""
            if folder[1:].isdigit():
                found.setdefault(int(folder[1:]), lines[0])
    return found
