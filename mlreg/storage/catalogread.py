"""Reading records into catalog rows (catalog.py): what the catalog keeps of each version, read as
RegistryFiles.version reads it, by a few processes at once when there are many.

A catalog is built once per clone: at 100,000 versions that is 100,000 metadata.json files to parse, several
seconds of CPU. On a machine with more than one core, and in a process with no other thread (forking one
with threads can deadlock the child), forked children read slices of the versions and send the rows back
through a pipe; a child that fails costs only speed (its slice is read here).
"""

from __future__ import annotations

from typing import Any

from ..core import forked
from ..core.files import RegistryFiles
from ..core.query import number
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
    metrics = {k: x for k, x in v.metrics.items() if number(x) is not None}  # what query.py compares
    params = {k: x for k, x in v.params.items() if isinstance(x, str)}
    return attrs, metrics, params, {k: x for k, x in v.tags.items() if isinstance(x, str)}


def read_rows(store: RegistryFiles, keys: list[tuple[str, int]]) -> list[Any]:
    """row_of each version (model folder, version number), or the error reading it."""
    children = min(forked.spare_cores(), CHILDREN_MAX, len(keys) // FORK_MIN)
    if children < 1:
        return [_row_or_error(store, name, n) for name, n in keys]
    size = -(-len(keys) // (children + 1))
    parts = [keys[i : i + size] for i in range(0, len(keys), size)]

    def work(part: list[tuple[str, int]]) -> list[Any]:  # in a child, an error is None: made again here
        return [None if isinstance(x, Exception) else x for x in (_row_or_error(store, *k) for k in part)]

    rows = [row for part in forked.fork_map(work, parts) for row in part]
    return [_row_or_error(store, *key) if row is None else row for key, row in zip(keys, rows, strict=True)]


def _row_or_error(store: RegistryFiles, name: str, n: int) -> Any:
    try:
        return row_of(store.version(name, n, validate=False))
    except MlregError as e:  # kept as the error, raised when a query would have read the record
        return e
