"""The `Git` runner: one git work tree driven through GitPython, and what a transaction writes with it
(blobs, trees, commits, the index, compare-and-swap of refs)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ...errors import GitError


class Git:
    """A git work tree, driven through GitPython's command runner; paths are relative to the registry root."""

    def __init__(self, root: Path):
        import git  # GitPython; deferred so read commands never pay for it

        from ...core.repo import of_root

        self.loc = of_root(root)
        self.root = self.loc.root
        self.prefix = self.loc.prefix  # the registry folder inside the work tree ('' at its root)
        self._git = git.Git(str(self.root))
        self._exc = git.exc.GitCommandError

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        strip: bool = True,
        raw: bool = False,
    ):
        """Run one git command; a failure becomes a GitError with git's own words (raw: stdout as bytes)."""
        full_env = {**os.environ, **env} if env else None
        opts: dict[str, Any] = {"env": full_env, "strip_newline_in_stdout": strip, "stdout_as_string": not raw}
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
        return full[len(self.prefix) :] if full.startswith(self.prefix) else None

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
        out = self.run(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *paths, strip=False
        )
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
        out = self.run(
            "hash-object", *(["-w"] if write else []), "--no-filters", "--stdin-paths", stdin=names.encode() + b"\n"
        )
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
        out = self.run("ls-tree", "-r", "-z", "--full-tree", commit, "--", *[self.full(r) for r in rels], strip=False)
        found = {}
        for entry in out.split("\0"):
            if entry:
                mode, kind, oid, path = _tree_entry(entry)
                rel = self.local(path)
                if kind == "blob" and rel is not None:
                    found[rel] = oid
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
        lines = [
            f"100644 {oid}\t{self.full(p)}" if oid else f"0 {'0' * 40}\t{self.full(p)}"
            for p, oid in sorted(blobs.items())
        ]
        self.run(
            "update-index",
            "--index-info",
            env={"GIT_INDEX_FILE": str(index_file)},
            stdin=("\n".join(lines) + "\n").encode(),
        )

    def checkout(self, index_file: str | Path, rels: list[str]) -> None:
        """Write these entries of an index to the work tree (byte-exact under registry/.gitattributes) and record
        their stat data in that index: one git call, no re-hashing."""
        if rels:
            self.run(
                "checkout-index",
                "-f",
                "-u",
                "-z",
                "--stdin",
                env={"GIT_INDEX_FILE": str(index_file)},
                stdin=b"\0".join(r.encode() for r in rels) + b"\0",
            )

    def update_ref(self, ref: str, new: str, old: str | None, reason: str) -> None:
        """Compare-and-swap: move `ref` to `new` only if it still points at `old` (None: must not exist)."""
        self.run("update-ref", "-m", reason, ref, new, old or "0" * len(new))

    def cat_blobs(self, oids: list[str]) -> dict[str, bytes]:
        """Every blob's bytes, read in one `git cat-file --batch`."""
        return _cat_blobs(self, oids)


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
        out[oid] = data[start : start + int(size)]
        pos = start + int(size) + 1
    return out
