"""Other trees than the work tree: artifact URIs every branch records, and a partial checkout of one model
from a remote repository (mlreg get)."""

from __future__ import annotations

from pathlib import Path

from ..errors import GitError
from .runner import Git


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
