"""search, find best and find latest over columns: the same answers as search.py and query.py give over views,
from a table of every version's fields (the read catalog, storage/catalog.py), without a view per version.

A table has one row per version, in (model, version) order, and `column(name)`: a list with one value per
row (None where the version has none), or None when no version has one. Its columns hold what the views
would give: `a:<attribute>` (and `a:version_type`), `m:<metric>` (finite numbers only), `p:<param>` and
`t:<tag>` (strings only). Each function returns rows; the caller makes views of those alone. A comparison
Python refuses (a malformed record's value against the query's) raises TypeError here: the caller then asks
the views, which fail, or not, exactly as they would have.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .query import fallback_type
from .search import Condition, Filter, Key, OrderKey, _like, _present, check_max_results


class Table(Protocol):
    def __len__(self) -> int: ...

    def column(self, name: str) -> list[Any] | None: ...


def column_name(key: Key) -> str:
    return {"metric": "m:", "param": "p:", "tag": "t:"}.get(key.kind, "a:") + key.name


def select(table: Table, conditions: Sequence[Condition], rows: list[int] | None = None) -> list[int]:
    """The rows (of `rows`, else all) every condition accepts, in row order."""
    for c in conditions:
        col = table.column(column_name(c.key))
        if col is None:
            return []
        rows = _matching(col, c.op, c.value, rows)
    return list(range(len(table))) if rows is None else rows


def _matching(col: list, op: str, want: Any, rows: list[int] | None) -> list[int]:
    """Condition.accepts over a column: `x is not None` and search._compare, written out per operator."""
    items: Any = enumerate(col) if rows is None else ((i, col[i]) for i in rows)
    if op == "=":
        return [i for i, x in items if x is not None and x == want]
    if op == "!=":
        return [i for i, x in items if x is not None and x != want]
    if op == "<":
        return [i for i, x in items if x is not None and x < want]
    if op == "<=":
        return [i for i, x in items if x is not None and x <= want]
    if op == ">":
        return [i for i, x in items if x is not None and x > want]
    if op == ">=":
        return [i for i, x in items if x is not None and x >= want]
    if op in ("LIKE", "ILIKE"):
        match = _like(want, op == "ILIKE").fullmatch
        return [i for i, x in items if x is not None and match(x) is not None]
    if op == "IN":
        return [i for i, x in items if x is not None and x in want]
    if op == "NOT IN":
        return [i for i, x in items if x is not None and x not in want]
    raise ValueError(f"unknown operator {op!r}")


def ordered(table: Table, rows: list[int], order: Sequence[OrderKey]) -> list[int]:
    """search.sort_views over rows: by name and version, then by each key (missing values last)."""
    names, numbers = table.column("a:name") or [], table.column("a:version") or []
    out = sorted(rows, key=lambda i: (names[i], numbers[i]))
    for k in reversed(order):  # stable sorts, least significant key first
        col = table.column(column_name(k.key)) or [None] * len(table)
        if k.descending:
            out.sort(key=lambda i: _present(col[i], True), reverse=True)  # sort() runs it at once
        else:
            out.sort(key=lambda i: _present(col[i], False))
    return out


def search(table: Table, flt: Filter, order: Sequence[OrderKey] = (), max_results: int | None = None) -> list[int]:
    """search.search over rows: those matching `flt`, sorted by `order`, at most `max_results` of them."""
    check_max_results(max_results)
    found = ordered(table, select(table, flt.conditions), order)
    return found if max_results is None else found[:max_results]


def _of_type(table: Table, rows: list[int], params: dict[str, str] | None) -> list[int]:
    for k, want in (params or {}).items():
        col = table.column(f"p:{k}")
        rows = [] if col is None else [i for i in rows if col[i] == str(want)]
    return rows


def _types(model_type: str | None, fallback: str | None) -> list[str | None]:
    """The lineage model types query._with_fallback tries, in turn."""
    second = fallback_type(model_type, fallback)
    return [model_type] if second is None else [model_type, second]


def _typed(table: Table, rows: list[int], model_type: str | None) -> list[int]:
    if model_type is None:
        return rows
    col = table.column("a:model_type") or [None] * len(table)
    return [i for i in rows if col[i] == model_type]


def best(
    table: Table,
    metric: str,
    up: bool,
    model_type: str | None = None,
    fallback: str | None = None,
    params: dict[str, str] | None = None,
) -> tuple[list[int], int] | None:
    """The rows query.find_best would choose among (those holding the best value of `metric` in the first
    lineage type that has any) and how many versions competed; None when none did."""
    col = table.column(f"m:{metric}")
    if col is None:
        return None
    scored = _of_type(table, [i for i, x in enumerate(col) if x is not None], params)
    for mt in _types(model_type, fallback):
        rows = _typed(table, scored, mt)
        if rows:
            top = (max if up else min)(col[i] for i in rows)
            return [i for i in rows if col[i] == top], len(rows)
    return None


def latest(
    table: Table,
    model_type: str | None = None,
    version_type: str | None = None,
    fallback: str | None = None,
    params: dict[str, str] | None = None,
) -> tuple[list[int], int] | None:
    """The row query.find_latest would pick (the newest by created_at, then number, the first of equals)
    and how many versions it chose among; None when none matched."""
    rows = _of_type(table, list(range(len(table))), params)
    if version_type is not None:
        kinds = table.column("a:version_type") or []
        rows = [i for i in rows if kinds[i] == version_type]
    created, numbers = table.column("a:created_at") or [], table.column("a:version") or []
    for mt in _types(model_type, fallback):
        found = _typed(table, rows, mt)
        if found:
            return [max(found, key=lambda i: (created[i], numbers[i]))], len(found)
    return None
