"""Other trees than the work tree: what gc must see (every remote's refs fetched, every record any commit, index or
work tree holds), and a partial checkout of one model from a remote repository (mlreg get)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ...errors import GitError, MlregError
from ...masking import mask
from .runner import Git

GC_REFS = "refs/mlreg-gc"  # every ref of every remote, as gc last fetched it (refs/mlreg-gc/<remote>/...)
_RECORD = re.compile(r"(^|/)registry/[^/]+/v[0-9]+/metadata\.json$")


def fetch_remotes(root: Path) -> list[str]:
    """Fetch every ref of every remote (branches, tags, pull-request refs, its own remote-tracking refs and stash)
    into refs/mlreg-gc/<remote>/, pruned to what the remote has now; returns the remotes' names. One that cannot be
    fetched is an error: gc must not judge what is unused from a stale view."""
    g = Git(root)
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if not os.environ.get("GIT_SSH_COMMAND"):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    names = g.run("remote").split()
    for name in names:
        dest = f"{GC_REFS}/{re.sub(r'[^A-Za-z0-9._-]', '_', name)}"
        try:
            g.run(
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                "--no-write-fetch-head",
                "--",
                name,
                f"+refs/*:{dest}/*",
                f"^{GC_REFS}/*",
                env=env,
            )
        except GitError as e:
            why = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
            raise GitError(
                mask(
                    f"cannot fetch remote {name!r}, so gc cannot see what other clones pushed; nothing "
                    f"was deleted ({why})"
                )
            ) from None
    return names


def recorded_uris(root: Path) -> set[str]:
    """Every artifact `uri` recorded by a version record (`registry/<model>/v<N>/metadata.json`, parsed as JSON)
    in any commit reachable from any ref (branches, remote-tracking and fetched refs, tags, the stash and its
    reflog, every reflog), any work tree's HEAD (detached too), any index, or any work tree.

    A record that cannot be parsed is an error (gc must not guess what it would have kept)."""
    g = Git(root)
    trees = _worktrees(g)
    heads = [h for _, h in trees if h]
    listed = g.run("rev-list", "--objects", "--all", "--reflog", "--indexed-objects", *heads, strip=False)
    blobs: dict[str, str] = {}
    for line in listed.splitlines():
        oid, _, path = line.partition(" ")
        if path.endswith("metadata.json"):
            blobs.setdefault(oid, path)
    uris: set[str] = set()
    oids = list(blobs)
    for start in range(0, len(oids), 500):  # a bounded batch in memory at a time: records have many revisions
        for oid, data in _blobs(g, oids[start : start + 500]).items():
            path = blobs[oid]
            uris |= _uris(data, f"{path} (git object {oid[:12]})", strict=bool(_RECORD.search(path)))
    for folder, _ in trees:
        if not Path(folder).is_dir():  # a linked work tree whose folder is gone: its HEAD and index still count
            continue
        found = g.run(
            "-C",
            folder,
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            ":(glob)**/registry/*/v*/metadata.json",
            strip=False,
        )
        for rel in sorted(set(found.split("\0")) - {""}):
            f = Path(folder, rel)
            if _RECORD.search(rel) and f.is_file() and not f.is_symlink():
                uris |= _uris(f.read_bytes(), str(f), strict=True)
    return uris


def _worktrees(g: Git) -> list[tuple[str, str | None]]:
    """(folder, HEAD commit) of the main work tree and every linked one (HEAD None on an unborn branch)."""
    out: list[tuple[str, str | None]] = []
    for block in g.run("worktree", "list", "--porcelain").split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in block.splitlines() if line)
        if "worktree" in fields and "bare" not in fields:
            head = fields.get("HEAD")
            out.append((fields["worktree"], head if head and set(head) != {"0"} else None))
    return out


def _blobs(g: Git, oids: list[str]) -> dict[str, bytes]:
    """The contents of these blobs (one `git cat-file --batch`)."""
    if not oids:
        return {}
    raw = g.run("cat-file", "--batch", stdin="".join(f"{o}\n" for o in oids).encode(), strip=False, raw=True)
    out, pos = {}, 0
    for oid in oids:
        end = raw.index(b"\n", pos)
        header = raw[pos:end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(f"git cat-file: cannot read object {oid} ({raw[pos:end].decode(errors='replace')})")
        size = int(header[2])
        out[oid] = raw[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return out


def _uris(data: bytes, where: str, strict: bool) -> set[str]:
    """The artifact URIs of one record; a record that is not a JSON object is an error when `strict`."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    except ValueError as e:
        if not strict:
            return set()
        raise MlregError(
            f"{where}: not a readable version record ({' '.join(str(e).split())}); gc reads every "
            "record before it deletes anything, so nothing was deleted: fix or remove that "
            "record"
        ) from None
    artifacts = doc.get("artifacts")
    return (
        {a["uri"] for a in artifacts if isinstance(a, dict) and isinstance(a.get("uri"), str)}
        if isinstance(artifacts, list)
        else set()
    )


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
