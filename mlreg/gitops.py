"""Every git call mlreg makes: commit exactly these paths, branch, lock, read trees at a ref."""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
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
    """A git work tree, driven through GitPython's command runner; paths are relative to the registry root."""

    def __init__(self, root: Path):
        import git  # GitPython; deferred so read commands never pay for it

        from .repo import of_root

        self.loc = of_root(root)
        self.root = self.loc.root
        self.prefix = self.loc.prefix  # the registry folder inside the work tree ('' at its root)
        self._git = git.Git(str(self.root))
        self._exc = git.exc.GitCommandError

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
            strip: bool = True, raw: bool = False):
        """Run one git command; a failure becomes a GitError with git's own words (raw: stdout as bytes)."""
        full_env = {**os.environ, **env} if env else None
        opts = {"env": full_env, "strip_newline_in_stdout": strip, "stdout_as_string": not raw}
        try:
            if stdin is None:
                return self._git.execute(["git", *args], **opts)
            with tempfile.TemporaryFile() as f:
                f.write(stdin)
                f.seek(0)
                return self._git.execute(["git", *args], istream=f, **opts)
        except self._exc as e:
            err = e.stderr if isinstance(e.stderr, str) else (e.stderr or b"").decode("utf-8", "replace")
            err = err.strip().replace("stderr: ", "").strip("'\n ")
            raise GitError(f"git {args[0]} failed: {err or e}") from None

    def full(self, rel: str) -> str:
        """A registry-relative path as git's index and trees name it (relative to the work tree root)."""
        return self.prefix + rel

    def local(self, full: str) -> str | None:
        """A work-tree-relative path back to registry-relative (None when outside the registry folder)."""
        return full[len(self.prefix):] if full.startswith(self.prefix) else None

    def head(self) -> str | None:
        """The commit HEAD points at, or None on an unborn branch."""
        try:
            return self.run("rev-parse", "-q", "--verify", "HEAD^{commit}")
        except GitError:
            return None

    def git_dir(self) -> Path:
        return self.loc.git_dir

    def dirty(self, paths: list[str]) -> list[str]:
        """Which of these paths (or files below them) differ from HEAD in the index or work tree."""
        if not paths:
            return []
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--",
                       *paths, strip=False)
        found = {self.local(entry[3:]) for entry in out.split("\0") if len(entry) > 3}
        return sorted(p for p in found if p is not None)

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

    # -- the object store and refs (what a transaction writes) ----------------------------------
    def hash_files(self, files: list[Path], write: bool = True) -> list[str]:
        """Blob ids of these files, byte-exact (no text/eol/filter conversion), in one git call."""
        if not files:
            return []
        # absolute paths; a symlink (followed on purpose) by its target, else git would hash the link itself
        names = "\n".join(os.path.realpath(p) if os.path.islink(p) else os.path.abspath(p) for p in files)
        names = names.encode() + b"\n"
        out = self.run("hash-object", *(["-w"] if write else []), "--no-filters", "--stdin-paths", stdin=names)
        return out.split()

    def hash_bytes(self, datas: list[bytes]) -> list[str]:
        """Write each byte string as a blob (one git call for all of them)."""
        if not datas:
            return []
        with tempfile.TemporaryDirectory(prefix="mlreg-blobs-") as tmp:
            paths = []
            for i, data in enumerate(datas):
                paths.append(Path(tmp) / str(i))
                paths[-1].write_bytes(data)
            return self.hash_files(paths)

    def tree_blobs(self, commit: str | None, rels: list[str]) -> dict[str, str]:
        """{registry path: blob id} at `commit` of these paths (folders: every file below them)."""
        if not commit or not rels:
            return {}
        out = self.run("ls-tree", "-r", "-z", "--full-tree", commit, "--", *[self.full(r) for r in rels],
                       strip=False)
        found = {}
        for entry in out.split("\0"):
            if entry:
                mode, kind, oid, path = _tree_entry(entry)
                if kind == "blob" and self.local(path) is not None:
                    found[self.local(path)] = oid
        return found

    def commit_tree(self, parent: str | None, blobs: dict[str, str | None], message: str) -> str:
        """A commit of `parent` plus these blobs (None: delete), built in a private index (the user's is untouched)."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.run("read-tree", *([parent] if parent else ["--empty"]), env=env)
            self.set_index(env["GIT_INDEX_FILE"], blobs)
            tree = self.run("write-tree", env=env)
        return self.run("commit-tree", tree, *(["-p", parent] if parent else []), stdin=message.encode())

    def set_index(self, index_file: str | Path, blobs: dict[str, str | None]) -> None:
        """Point these index entries at blobs (None: remove), in one git call, without touching the work tree."""
        lines = [f"100644 {oid}\t{self.full(p)}" if oid else f"0 {'0' * 40}\t{self.full(p)}"
                 for p, oid in sorted(blobs.items())]
        self.run("update-index", "--index-info", env={"GIT_INDEX_FILE": str(index_file)},
                 stdin=("\n".join(lines) + "\n").encode())

    def checkout(self, index_file: str | Path, rels: list[str]) -> None:
        """Write these entries of an index to the work tree (byte-exact under registry/.gitattributes) and record
        their stat data in that index: one git call, no re-hashing."""
        if rels:
            self.run("checkout-index", "-f", "-u", "-z", "--stdin", env={"GIT_INDEX_FILE": str(index_file)},
                     stdin=b"\0".join(r.encode() for r in rels) + b"\0")

    def update_ref(self, ref: str, new: str, old: str | None, reason: str) -> None:
        """Compare-and-swap: move `ref` to `new` only if it still points at `old` (None: must not exist)."""
        self.run("update-ref", "-m", reason, ref, new, old or "0" * len(new))

    def cat_blobs(self, oids: list[str]) -> dict[str, bytes]:
        """Every blob's bytes, read in one `git cat-file --batch`."""
        return _cat_blobs(self, oids)


@contextmanager
def lock(root: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock under the git dir held for a whole mutating operation (serialises writers).

    wait=False: yield False at once when another process holds it (a live writer)."""
    from .repo import of_root

    with open(of_root(root).git_dir / "mlreg.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def refuse_escape(root: Path, paths: list[str], new_folders: list[str] = ()) -> None:
    """Never write through a symlink or outside the work tree (e.g. a model folder linked elsewhere).

    Files inside `new_folders` (which must not exist yet) are checked through their folder: each folder once."""
    top = root.resolve()
    checked: set[str] = set()
    for rel in paths:
        if rel.startswith("/") or ".." in rel.split("/"):
            raise GitError(f"{rel}: refusing to write outside the repository")
        key = next((f for f in new_folders if inside(rel, f)), rel)
        if key in checked:
            continue
        parts = key.split("/")
        for i in range(1, len(parts) + 1):
            part = "/".join(parts[:i])
            if part in checked:
                continue
            checked.add(part)
            at = root / part
            if at.is_symlink() or (at.exists() and not at.resolve().is_relative_to(top)):
                raise GitError(f"{rel}: refusing to write through the symlink {part}")


def clean_stale_temp(folder: Path) -> None:
    """Remove temp folders a killed mlreg left behind (call with the lock held: none can be live)."""
    if folder.is_dir():
        for stale in folder.glob(".v*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)


def refuse_dirty(g: Git, paths: list[str]) -> None:
    """Refuse when any of these paths has uncommitted changes (they would be overwritten or swept in)."""
    dirty = g.dirty(paths)
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise GitError(
            f"{shown}: uncommitted changes in files this command writes; commit or stash them first, "
            "or pass --no-commit"
        )


def write_files(root: Path, change: ChangeSet):
    """Write every file (new folders via temp folder + rename); return a function that undoes it."""
    from .storewrite import write_atomic

    root = Path(root)
    folders = change.new_folders
    before = {rel: (root / rel).read_bytes() if (root / rel).is_file() else None for rel in change.files
              if not any(inside(rel, f) for f in folders)}
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
        made: set[Path] = {tmp}
        for rel, content in files.items():
            if inside(rel, folder):
                path = tmp / Path(rel).relative_to(folder)
                if path.parent not in made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    made.add(path.parent)
                _put(path, content, mkdir=False)
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


def inside(rel: str, folder: str | None) -> bool:
    return folder is not None and (rel == folder or rel.startswith(folder.rstrip("/") + "/"))


def _put(path: Path, content: Content, writer=None, mkdir: bool = True) -> None:
    if content is None:
        path.unlink(missing_ok=True)
        return
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Path):
        shutil.copyfile(content, path)
    elif writer:
        writer(path, content)
    else:
        path.write_bytes(content)


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

def _tree_entry(entry: str) -> tuple[str, str, str, str]:
    meta, path = entry.split("\t", 1)
    mode, kind, oid = meta.split()
    return mode, kind, oid, path


def _cat_blobs(g: Git, oids: list[str]) -> dict[str, bytes]:
    """Every blob's bytes, read in one `git cat-file --batch`."""
    if not oids:
        return {}
    data = g.run("cat-file", "--batch", stdin=("\n".join(oids) + "\n").encode(), strip=False, raw=True)
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
    code, out = _read(root, "merge-base", a, b, ok=(0, 1))
    if code:
        raise GitError(f"{a} and {b} have no common history (git merge-base found none)")
    return out.decode().strip()


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
        rel = g.local(field_) if field_ else None
        parts = rel.split("/") if rel else []
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
            path = g.local(path) or ""
            folder = path.split("/")[2] if path.count("/") >= 3 else ""
            if folder[1:].isdigit():
                found.setdefault(int(folder[1:]), lines[0])
    return found


def root_commit(root: Path) -> str | None:
    """The repository's first commit (the oldest root when histories were merged); None before any commit."""
    g = Git(root)
    if g.head() is None:
        return None
    roots = g.run("rev-list", "--max-parents=0", "HEAD").split()
    return roots[-1] if roots else None


def remote_url(root: Path, remote: str = "origin") -> str | None:
    """The fetch URL of `remote`, or None when there is none."""
    try:
        return Git(root).run("config", "--get", f"remote.{remote}.url") or None
    except GitError:
        return None


# -- fast reads for the pull-request gate (validate --base, diff): plain subprocess, no GitPython import ------
# These run on every push in CI, on registries of 10,000 versions: each is one git process, and none
# touches the work tree, the index or a ref. They take and return registry-relative paths (the registry
# may sit in a folder of the work tree); git runs at the work tree's root with full paths.


SYMLINK_MODE, SUBMODULE_MODE = "120000", "160000"
GATED_PATHS = ("mlreg.yaml", "registry")
_IDENT = {"GIT_AUTHOR_NAME": "mlreg", "GIT_AUTHOR_EMAIL": "mlreg@localhost", "GIT_COMMITTER_NAME": "mlreg",
          "GIT_COMMITTER_EMAIL": "mlreg@localhost"}


@functools.lru_cache(maxsize=16)
def _where(root: Path) -> tuple[Path, str]:
    """(work tree root, the registry folder's path prefix in it: '' or 'sub/dir/')."""
    from .repo import of_root

    loc = of_root(root)
    return loc.top, loc.prefix


def _full(root: Path, paths: tuple[str, ...] | list[str]) -> list[str]:
    prefix = _where(root)[1]
    return [prefix + p for p in paths]


def _local(prefix: str, out: bytes) -> list[str]:
    """NUL-separated full paths -> registry-relative ones (paths outside the registry folder dropped)."""
    return [p[len(prefix):] for p in out.decode("utf-8", "surrogateescape").split("\0") if p and p.startswith(prefix)]


def _read(root: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
          ok: tuple[int, ...] = (0,)) -> tuple[int, bytes]:
    """Run one git command at the work tree's root; its exit status (one of `ok`, else a GitError with
    git's words) and stdout."""
    r = subprocess.run(["git", "--literal-pathspecs", *args], cwd=_where(root)[0], input=stdin, capture_output=True,
                       env={**os.environ, **env} if env else None)
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
                found[path[len(prefix):]] = Entry(mode, oid)
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
            found[path[len(prefix):]] = Entry(mode, oid)
    return found


def changed(root: Path, old_tree: str, new_tree: str) -> tuple[list[str], bool]:
    """Paths of mlreg.yaml and registry/ that differ between two trees, and whether any file outside them
    differs too (identical subtrees are skipped: one git call)."""
    _, out = _read(root, "diff-tree", "-r", "-z", "--no-renames", "--name-only", old_tree, new_tree)
    gated = tuple(_full(root, GATED_PATHS))
    paths = [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]
    inside = [p for p in paths if p == gated[0] or p.startswith(gated[1] + "/")]
    prefix = _where(root)[1]
    return [p[len(prefix):] for p in inside], len(inside) < len(paths)


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
        out[header[0]] = data[start:start + int(header[2])]
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
    tracked = ["diff-index", "--name-only", "-z", "--no-renames", head_sha] if head_sha else \
        ["ls-files", "-z", "--cached"]
    gated = _full(root, GATED_PATHS)
    found = _parallel(root, [*tracked, "--", *gated], ["ls-files", "-z", "--others", "--exclude-standard", "--", *gated])
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
    top = _where(root)[0]
    procs = [subprocess.Popen(["git", "--literal-pathspecs", *c], cwd=top, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for c in commands]
    outs = []
    for c, proc in zip(commands, procs):
        out, err = proc.communicate()
        if proc.returncode:
            raise GitError(f"git {c[0]} failed: {err.decode('utf-8', 'replace').strip()}")
        outs.append(out)
    return outs


def common_dir(root: Path) -> Path:
    """The repository's shared git directory (the same for every linked worktree); no git call."""
    from .repo import of_root

    return of_root(root).common_dir


def clean_blob_ids(root: Path, path: str = "registry") -> dict[str, str]:
    """Blob id of every regular file under `path` whose work-tree copy git knows is unchanged since the
    index recorded it (stat data matches): repo path -> blob id. Two git calls; nothing is hashed."""
    prefix = _where(root)[1]
    staged, dirty = _parallel(root, ["ls-files", "-s", "-z", "--", prefix + path],
                              ["diff-files", "--name-only", "-z", "--", prefix + path])
    found = {}
    for rec in staged.decode("utf-8", "surrogateescape").split("\0"):
        if rec:
            meta, rel = rec.split("\t", 1)
            mode, oid, stage = meta.split()
            if stage == "0" and mode in ("100644", "100755") and rel.startswith(prefix):
                found[rel[len(prefix):]] = oid
    for rel in _local(prefix, dirty):
        found.pop(rel, None)
    return found


# -- history of every folder at once (for report) ---------------------------------------------------
def folder_history(root: Path, commit: str, paths: list[str], depth: int = 3) -> dict[str, list[CommitInfo]]:
    """Commits reachable from `commit` touching each registry-relative folder `depth` path parts deep
    (registry/<m>/v<N>) and the folders above it down to depth 2 (registry/<m>), newest first. One git log."""
    import datetime as dt

    prefix = _where(root)[1]
    fmt = "%x01%H%x1f%aI%x1f%an <%ae>%x1f%s%x1f%(trailers:only,unfold)%x1f"
    _, raw = _read(root, "log", "--no-renames", "-z", f"--format={fmt}", "--name-only", commit, "--",
                   *_full(root, paths))
    found: dict[str, list[CommitInfo]] = {}
    info: CommitInfo | None = None
    for field_ in raw.decode("utf-8", "surrogateescape").split("\0"):
        field_ = field_.lstrip("\n")
        if field_.startswith("\x01"):
            sha, at, author, subject, trailer_text = field_[1:].split("\x1f")[:5]
            when = dt.datetime.fromisoformat(at).astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            trailers = dict(line.split(": ", 1) for line in trailer_text.splitlines() if ": " in line)
            info = CommitInfo(sha, when, author, subject, trailers)
            continue
        if info is None or not field_.startswith(prefix):
            continue
        parts = field_[len(prefix):].split("/")
        for d in range(depth - 1, min(depth, len(parts) - 1) + 1):
            seen = found.setdefault("/".join(parts[:d]), [])
            if not seen or seen[-1].sha != info.sha:
                seen.append(info)
    return found


def commit_time(root: Path, commit: str) -> str:
    """A commit's author time, UTC ISO-8601."""
    import datetime as dt

    _, out = _read(root, "show", "-s", "--format=%aI", commit)
    at = out.decode().strip()
    return dt.datetime.fromisoformat(at).astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- object storage: what every branch records, and a partial checkout of one model (mlreg get) ------------
def recorded_uris(root: Path) -> set[str]:
    """Every artifact `uri` recorded in a metadata.json at the tip of any local or remote-tracking branch (one
    `git grep` over those trees); the work tree is the caller's to add."""
    g = Git(root)
    tips = sorted(set(g.run("for-each-ref", "--format=%(objectname)", "refs/heads", "refs/remotes",
                            "refs/tags").split()))
    if not tips:
        return set()
    status, out, err = g._git.execute(["git", "grep", "-h", "-I", "--no-color", "-e", '"uri":', *tips, "--",
                                       "registry/*/metadata.json"], with_extended_output=True, with_exceptions=False)
    if status not in (0, 1):  # 1: no match
        raise GitError(f"git grep failed: {err.strip()}")
    return {_json_string(line.split('"uri":', 1)[1]) for line in out.splitlines() if '"uri":' in line}


def _json_string(text: str) -> str:
    import json

    return json.loads(text.strip().rstrip(","))


def sparse_checkout(url: str, folder: str, dest: Path, rev: str | None = None) -> None:
    """Check out only `folder` (and the top-level files) of a remote repository into `dest`: a shallow, blob-less
    partial clone, so only that folder's files are downloaded (where the server allows filters)."""
    import git as gitpython

    if "://" not in url and ":" not in url.split("/")[0] and Path(url).exists():
        url = Path(url).resolve().as_uri()  # a plain path would clone locally, ignoring --filter and --depth
    runner = gitpython.Git(str(dest.parent))
    args = ["git", "clone", "--quiet", "--filter=blob:none", "--no-checkout", "--depth", "1"]
    try:
        runner.execute([*args, *(["--branch", rev] if rev else []), "--", url, str(dest)])
        g = Git(dest)
        g.run("sparse-checkout", "set", "--cone", "--", folder)
        g.run("checkout", "--quiet")
    except gitpython.exc.GitCommandError as e:
        err = (e.stderr or "").strip().replace("stderr: ", "").strip("'\n ")
        raise GitError(f"cannot read {url}: {err or e}") from None
