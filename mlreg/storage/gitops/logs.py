"""History and refs: commits touching a path (with their Mlreg-* trailers), the newest commit per folder,
merge bases, the default branch, the root commit, remotes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import GitError
from .runner import Git
from .trees import _full, _read, _where


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
        when = dt.datetime.fromisoformat(at).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        trailers = dict(line.split(": ", 1) for line in trailer_text.splitlines() if ": " in line)
        commits.append(CommitInfo(sha, when, author, subject, trailers))
    return commits


def touched_versions(root: Path, path: str) -> dict[str, set[int]]:
    """Commit -> the version numbers whose `path`/v<N>/metadata.json it changed (one git call): what ties a
    demotion to the promote that made it, whatever the clock said."""
    g = Git(root)
    if g.head() is None:
        return {}
    out = g.run(
        "log", "--no-renames", "-z", "--format=%x01%H", "--name-only", "--", f"{path}/*/metadata.json", strip=False
    )
    found: dict[str, set[int]] = {}
    sha = None
    for field_ in out.split("\0"):
        field_ = field_.strip("\n")
        if field_.startswith("\x01"):
            sha, _, field_ = field_[1:].partition("\n")
            found.setdefault(sha, set())
        parts = (g.local(field_.strip("\n")) or "").split("/") if field_.strip("\n") else []
        if sha and len(parts) >= 2 and parts[-1] == "metadata.json" and parts[-2][1:].isdigit():
            found[sha].add(int(parts[-2][1:]))
    return found


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
    raise GitError(
        "no default branch found (origin/HEAD, origin/main, origin/master, main or master); "
        "name the base ref explicitly"
    )


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


def deleted_versions(root: Path, model: str, at: str | None = None) -> dict[int, str]:
    """Version numbers whose metadata.json was deleted in the history of `at` (default HEAD) -> the deleting
    commit (one git call)."""
    g = Git(root)
    if g.head() is None:
        return {}
    out = g.run(
        "log",
        "--diff-filter=D",
        "--no-renames",
        "--name-only",
        "--format=%x1e%H",
        at or "HEAD",
        "--",
        f"registry/{model}/*/metadata.json",
    )
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


# -- history of every folder at once (for report) ---------------------------------------------------
def folder_history(root: Path, commit: str, paths: list[str], depth: int = 3) -> dict[str, list[CommitInfo]]:
    """Commits reachable from `commit` touching each registry-relative folder `depth` path parts deep
    (registry/<m>/v<N>) and the folders above it down to depth 2 (registry/<m>), newest first. One git log."""
    import datetime as dt

    prefix = _where(root)[1]
    fmt = "%x01%H%x1f%aI%x1f%an <%ae>%x1f%s%x1f%(trailers:only,unfold)%x1f"
    _, raw = _read(
        root, "log", "--no-renames", "-z", f"--format={fmt}", "--name-only", commit, "--", *_full(root, paths)
    )
    found: dict[str, list[CommitInfo]] = {}
    info: CommitInfo | None = None
    for field_ in raw.decode("utf-8", "surrogateescape").split("\0"):
        field_ = field_.lstrip("\n")
        if field_.startswith("\x01"):
            sha, at, author, subject, trailer_text = field_[1:].split("\x1f")[:5]
            when = dt.datetime.fromisoformat(at).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            trailers = dict(line.split(": ", 1) for line in trailer_text.splitlines() if ": " in line)
            info = CommitInfo(sha, when, author, subject, trailers)
            continue
        if info is None or not field_.startswith(prefix):
            continue
        parts = field_[len(prefix) :].split("/")
        for d in range(depth - 1, min(depth, len(parts) - 1) + 1):
            seen = found.setdefault("/".join(parts[:d]), [])
            if not seen or seen[-1].sha != info.sha:
                seen.append(info)
    return found


def commit_time(root: Path, commit: str) -> str:
    """A commit's author time, UTC ISO-8601."""
    import datetime as dt

    _, out = _read(root, "log", "-1", "--no-walk", "--format=%aI", commit)  # (`show -s` diffs a root commit)
    at = out.decode().strip()
    return dt.datetime.fromisoformat(at).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
