"""Sync mirrors only what landed: a server is synced from a commit on the remote's default branch.

A teammate's sync from an unmerged branch would put versions into the shared MLflow that the default branch
later numbers differently (Bob's v2 is not Alice's v2), and every later sync would stop on them. So before a
sync writes to a server, the remote's default branch is fetched and the commit being synced must be on it,
with no uncommitted change in the registry. A repository without an `origin` remote is private: no check.
`--allow-unmerged` skips the check (a private server); the embedded store is never checked.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import GitError, MlregError

REMOTE = "origin"
OVERRIDE = "--allow-unmerged"


def require_landed(root: Path) -> None:
    """Raise unless HEAD is on the remote's default branch (fetched first) and the registry has no uncommitted
    change."""
    from ..storage.gitops.runner import Git

    g = Git(root)
    if REMOTE not in g.run("remote").split():
        return
    head = g.head()
    if head is None:
        return
    dirty = g.dirty([g.full("registry"), g.full("mlreg.yaml")])
    if dirty:
        raise MlregError(
            f"the registry has uncommitted changes ({', '.join(dirty[:3])}"
            f"{', ...' if len(dirty) > 3 else ''}); sync mirrors only what landed on {REMOTE}'s default "
            f"branch: commit and merge them first, or pass {OVERRIDE} to sync them to a private server"
        )
    branch = default_branch(g)
    tracking = f"refs/remotes/{REMOTE}/{branch}"
    try:
        g.run("fetch", "--quiet", "--no-tags", REMOTE, f"+refs/heads/{branch}:{tracking}")
    except GitError as e:
        raise MlregError(
            f"cannot fetch {REMOTE}/{branch} to see what landed ({e}); rerun when {REMOTE} is "
            f"reachable, or pass {OVERRIDE} to sync this commit anyway"
        ) from None
    try:
        g.run("merge-base", "--is-ancestor", head, tracking)
    except GitError:
        name = _branch_name(g)
        raise MlregError(
            f"{name} (commit {head[:10]}) is not on {REMOTE}/{branch}: a shared MLflow mirrors only what "
            f"landed on the default branch. Merge it first (CI syncs after the merge), or pass "
            f"{OVERRIDE} to sync it to a private server"
        ) from None


def default_branch(g) -> str:
    """The remote's default branch: refs/remotes/origin/HEAD as clone set it, else what the remote says, else
    main / master as they exist."""
    try:
        return g.run("symbolic-ref", "--short", f"refs/remotes/{REMOTE}/HEAD").split("/", 1)[1]
    except GitError:
        pass
    try:
        for line in g.run("ls-remote", "--symref", REMOTE, "HEAD").splitlines():
            if line.startswith("ref: refs/heads/"):
                return line.split()[1][len("refs/heads/") :]
    except GitError:
        pass
    for name in ("main", "master"):
        if g.ref_exists(f"refs/remotes/{REMOTE}/{name}"):
            return name
    return "main"


def _branch_name(g) -> str:
    try:
        return f"branch {g.run('symbolic-ref', '--short', 'HEAD')!r}"
    except GitError:
        return "the checked-out commit (detached HEAD)"
