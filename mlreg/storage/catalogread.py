"""Reading records into catalog rows (catalog.py): what the catalog keeps of each version, read as
RegistryFiles.version reads it, by a few processes at once when there are many.

A catalog is built once per clone: at 100,000 versions that is 100,000 metadata.json files to parse, several
seconds of CPU. On a machine with more than one core, and in a process with no other thread (forking one
with threads can deadlock the child), forked children read slices of the versions and send the rows back
through a pipe; a child that fails costs only speed (its slice is read here).
"""

from __future__ import annotations

import marshal
import math
import os
import sys
from typing import Any

from ..core.files import RegistryFiles
from ..core.records import Version
from ..errors import MlregError

FORK_MIN = 4000  # versions to read before children are worth forking
CHILDREN_MAX = 3


def row_of(v: Version) -> tuple:
    """What the catalog keeps of one version: its attributes, then its metrics (the finite numbers only: all
    that queries read of them), params and tags (their strings only, likewise)."""
    lin, run = v.lineage, v.run
    base = (lin.base.model, lin.base.version) if lin.base else None
    attrs: tuple = (v.name, v.version, v.stage, v.created_at, v.created_by, v.description, lin.model_type)
    attrs += (lin.enhancement_type, run.experiment, run.name, run.mlflow_run_id, base)
    metrics = {k: x for k, x in v.metrics.items() if type(x) is int or (type(x) is float and math.isfinite(x))}
    params = {k: x for k, x in v.params.items() if isinstance(x, str)}
    return attrs, metrics, params, {k: x for k, x in v.tags.items() if isinstance(x, str)}


def read_rows(store: RegistryFiles, keys: list[tuple[str, int]]) -> list[Any]:
    """row_of each version (model folder, version number), or the error reading it."""
    children = _children(len(keys))
    if not children:
        return [_row_or_error(store, name, n) for name, n in keys]
    size = -(-len(keys) // (children + 1))
    slices = [keys[i : i + size] for i in range(0, len(keys), size)]
    forked = [_fork(store, part) for part in slices[1:]]
    out = [_row_or_error(store, name, n) for name, n in slices[0]]
    for part, child in zip(slices[1:], forked, strict=True):
        rows = _collect(child, len(part))
        if rows is None:  # no child, or it failed: read here
            out += [_row_or_error(store, name, n) for name, n in part]
        else:  # None: a row the child could not read; the error it raises is made here
            out += [_row_or_error(store, *key) if row is None else row for key, row in zip(part, rows, strict=True)]
    return out


def _children(count: int) -> int:
    import threading

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if count < FORK_MIN or cores < 2 or not sys.platform.startswith("linux") or threading.active_count() != 1:
        return 0
    return min(cores - 1, CHILDREN_MAX, count // FORK_MIN)


def _row_or_error(store: RegistryFiles, name: str, n: int) -> Any:
    try:
        return row_of(store.version(name, n, validate=False))
    except MlregError as e:  # kept as the error, raised when a query would have read the record
        return e


def _fork(store: RegistryFiles, keys: list[tuple[str, int]]) -> tuple[int, int] | None:
    """(pid, read end of its pipe) of a child reading `keys`; None when there is no child."""
    try:
        r, w = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid:
        os.close(w)
        return pid, r
    code = 1
    try:  # the child: never returns, never runs the parent's exit handlers
        os.close(r)
        rows = [None if isinstance(x, Exception) else x for x in (_row_or_error(store, *k) for k in keys)]
        data = marshal.dumps(rows)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view) :]
        code = 0
    finally:
        os._exit(code)


def _collect(child: tuple[int, int] | None, count: int) -> list | None:
    if child is None:
        return None
    pid, r = child
    parts = []
    try:
        while chunk := os.read(r, 1 << 20):
            parts.append(chunk)
    except OSError:
        parts = []
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    try:
        rows = marshal.loads(b"".join(parts)) if status == 0 else None
    except (ValueError, EOFError, TypeError):
        return None
    return rows if isinstance(rows, list) and len(rows) == count else None
