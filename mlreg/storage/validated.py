"""What `validate` learned from each metadata.json, kept by git blob id: the next run skips parsing files git
knows are unchanged.

A metadata.json whose content has no problem yields a few *facts* (core/version_checks.py); they depend only
on its bytes and on mlreg's own checking code, so they are kept in `<git dir>/mlreg/validated` under the
file's blob id and a fingerprint of that code. A file is looked up only when git's index says its work-tree
copy is unchanged (the same rule as the digest cache); a file with any problem is never kept, so it is read
and reported in full every run. The file carries a sha256 of its payload: a torn, foreign or corrupt
cache, or another fingerprint, is ignored and rewritten, never served. Nothing of it is committed, and
`MLREG_NO_INDEX=1` turns it off (the answers are the same).
"""

from __future__ import annotations

import hashlib
import marshal
import os
from pathlib import Path
from typing import Any

from ..errors import MlregError
from . import gitops

_MAGIC = b"mlreg-validated 1"


class FactsCache:
    """Registry file path -> facts, through the blob id git's index gives the clean work-tree file."""

    def __init__(self, path: Path | None, clean: dict[str, str], fingerprint: str):
        self.path, self.clean, self.fingerprint = path, clean, fingerprint
        self.known: dict[str, Any] = {}
        self.fresh: dict[str, Any] = {}
        self.added = 0
        if path is not None:
            self.known = _read(path, fingerprint)

    def _key(self, rel: str) -> str | None:
        """The blob id, with the file's name: one content read as two kinds of file is two entries."""
        oid = self.clean.get(rel)
        return f"{oid} {rel.rsplit('/', 1)[-1]}" if oid else None

    def get(self, rel: str) -> Any:
        key = self._key(rel)
        return self.known.get(key) if key else None

    def put(self, rel: str, facts: Any) -> None:
        key = self._key(rel)
        if key and key not in self.known:
            self.known[key] = self.fresh[key] = facts
            self.added += 1

    def learned(self) -> dict[str, Any]:
        """What was added since the last call (key -> facts): a worker process hands it to its parent."""
        out, self.fresh = self.fresh, {}
        return out

    def learn(self, found: dict[str, Any]) -> None:
        for key, facts in found.items():
            if key not in self.known:
                self.known[key] = facts
                self.added += 1

    def save(self) -> None:
        """Write the facts back when any was added. Facts of files the work tree no longer holds are kept
        (another branch, another worktree of the repository) until they outnumber the current ones twice."""
        if self.path is None or not self.added:
            return
        kept = self.known
        if len(kept) > 3 * max(len(self.clean), 1):
            current = set(self.clean.values())
            kept = {key: f for key, f in kept.items() if key.split(" ", 1)[0] in current}
        payload = marshal.dumps(kept)
        header = b"%s %s %s\n" % (_MAGIC, self.fingerprint.encode(), hashlib.sha256(payload).hexdigest().encode())
        from .atomic import write_atomic

        try:
            write_atomic(self.path, header + payload)
        except OSError:
            pass  # a read-only repository: the next run reads the files again
        self.added = 0


def _read(path: Path, fingerprint: str) -> dict[str, Any]:
    """The kept facts, or nothing when the file is missing, torn, corrupt or of another fingerprint."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    head, _, payload = data.partition(b"\n")
    parts = head.split(b" ")
    if len(parts) != 4 or b" ".join(parts[:2]) != _MAGIC or parts[2] != fingerprint.encode():
        return {}
    if hashlib.sha256(payload).hexdigest().encode() != parts[3]:
        return {}
    try:
        found = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return {}
    return found if isinstance(found, dict) else {}


def facts_for(root: Path, clean: dict[str, str]) -> FactsCache:
    """The repository's facts cache over `clean` (path -> blob id of unchanged files); an empty, unsaved one
    outside a git repository or with MLREG_NO_INDEX set."""
    from ..core.version_checks import fingerprint

    if os.environ.get("MLREG_NO_INDEX"):
        return FactsCache(None, {}, "")
    try:
        path = gitops.common_dir(root) / "mlreg" / "validated"
        code = fingerprint()
    except (MlregError, OSError):  # not a git repository, or mlreg's sources cannot be read (a zipped install)
        return FactsCache(None, {}, "")
    return FactsCache(path, clean, code)


def worktree_inputs(root: Path) -> tuple[Any, FactsCache, Any]:
    """What `validate` of the work tree needs beside the files: the digests (digests.worktree_hasher), the
    facts cache over the same clean files, and the one call that saves both. Both caches are read while git
    lists the clean files."""
    from .digests import cache_for, worktree_hasher

    try:
        pending = gitops.clean_blob_ids_later(root)
    except MlregError:
        pending = dict
    digests = cache_for(root)
    memo = facts_for(root, {})
    try:
        clean = pending()
    except MlregError:
        clean = {}
    hasher = worktree_hasher(root, digests, clean)
    memo.clean = clean if memo.path is not None else {}

    def save() -> None:
        digests.save()
        memo.save()

    return hasher, memo, save
