"""The registry's versions as columns, kept under the git dir and checked against the work tree on every read.

`search`, `find` and `list` ask a few fields of every version; at 100,000 versions parsing every metadata.json
is what takes the time. The catalog keeps those fields in columns (one list per attribute, metric, param or
tag), each version's metadata.json stat beside them, and each model folder's stat, version numbers and what
`list` shows of its model.yaml. It is never trusted over the files (catalogscan.py says why a stat is proof
enough): every read stats every record again and reads again what changed; an unreadable, corrupt or foreign
catalog is rebuilt; nothing of it is committed (it lives in the git dir). `MLREG_NO_INDEX=1` turns it off
(the answers are the same: tests/test_catalog.py).

`list` checks only the model folders and model.yaml files (model_rows); the versions a change touched are
kept as a patch over the stored columns until there are many, then the columns are written again.
"""

from __future__ import annotations

import marshal
import os
import time
from array import array
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.files import RegistryFiles
from ..errors import MlregError
from . import catalogscan as scan
from .catalogfile import Stored, encode, write
from .catalogread import read_rows

if TYPE_CHECKING:
    from .catalogviews import RowView

ATTRS = (
    "name",
    "version",
    "stage",
    "created_at",
    "created_by",
    "description",
    "model_type",
    "enhancement_type",
    "experiment",
    "run_name",
    "run_id",
    "base",
)
_AT = {f"a:{a}": i for i, a in enumerate(ATTRS)}
_KINDS = {"m": 1, "p": 2, "t": 3}
PATCH_MAX = 2000  # rows read again since the columns were written; past it (or a 50th of the rows) they are


class Catalog:
    """Every version's columns, in (model, version) order, fresh against the work tree when loaded: the
    stored columns (`base`, read on demand) seen through `rowmap` (row -> stored row, -1: none), with
    `patch` (row -> row_of, None for an unreadable record) over them."""

    def __init__(self, groups: tuple, base: Any, rowmap: list[int] | None, patch: dict, broken: list, recover: Any):
        self.groups = groups  # ((model, version numbers), ...): the rows, in order
        self._base = base  # Stored, or a dict of decoded columns, or None
        self._map, self._patch, self.broken = rowmap, patch, broken  # broken: the errors, in row order
        self._recover = recover  # -> a Catalog read from the files (a corrupt column's way out)
        self._n = sum(len(nums) for _, nums in groups)
        self._cols: dict[str, Any] = {}
        self._keys: list[tuple[str, int]] | None = None
        self._ends: list[int] | None = None  # the row after each group's last
        self._bases: set | None = None
        self._every: list | None = None  # the patch's rows in order, when it holds every row

    def __len__(self) -> int:
        return self._n

    @property
    def keys(self) -> list[tuple[str, int]]:
        """(model folder, version folder number) per row."""
        if self._keys is None:
            self._keys = [(name, n) for name, nums in self.groups for n in nums]
        return self._keys

    def key(self, row: int) -> tuple[str, int]:
        """keys[row], without making every key."""
        if self._keys is not None:
            return self._keys[row]
        if self._ends is None:
            self._ends = list(accumulate(len(nums) for _, nums in self.groups))
        g = bisect_right(self._ends, row)
        name, nums = self.groups[g]
        return name, nums[row - (self._ends[g] - len(nums))]

    def version_type(self, row: int) -> str:
        """column("a:version_type")[row], without making the column."""
        if "a:version_type" in self._cols:
            return self._cols["a:version_type"][row]
        names, nums = self.column("a:name") or [], self.column("a:version") or []
        return "old" if (names[row], nums[row]) in self.bases else "latest"

    def column(self, name: str) -> list | None:
        """A column by name (`a:stage`, `m:rmse_val`, `p:timeframe`, `t:team`, `a:version_type`), one value
        per row (None where a row has none); None when no row has one."""
        if name in self._cols:
            return self._cols[name]
        col: list | None
        if name == "a:version_type":
            names, nums, bases = self.column("a:name"), self.column("a:version"), self.bases
            col = ["old" if (m, n) in bases else "latest" for m, n in zip(names or [], nums or [], strict=True)]
        else:
            col = self._patched(name, self._stored(name))
        self._cols[name] = col
        return col

    def names(self) -> list[str]:
        """Every column's name."""
        base = self._base.head["rows"]["columns"] if isinstance(self._base, Stored) else self._base or {}
        found = dict.fromkeys(n for n in base if not n.startswith("a:"))
        for kind, at in _KINDS.items():
            keys: dict[str, None] = {}
            for row in self._patch.values():
                if row is not None:
                    keys.update(row[at])
            found.update(dict.fromkeys(f"{kind}:{k}" for k in keys))
        return [*(f"a:{a}" for a in ATTRS), *found]

    def _stored(self, name: str) -> Any:
        if not isinstance(self._base, Stored):
            return (self._base or {}).get(name)
        where = self._base.head["rows"]["columns"].get(name)
        if where is None:
            return None
        data = self._base.blob(where)
        try:
            return marshal.loads(data) if data is not None else self._recovered(name)
        except (ValueError, EOFError, TypeError):
            return self._recovered(name)

    def _recovered(self, name: str) -> Any:
        """A stored column failed its check: never served; every record is read again instead."""
        fresh = self._recover()
        if fresh.groups != self.groups:
            raise MlregError("the registry changed while it was being read; run the command again")
        self._base, self._map, self._patch, self.broken = fresh._base, fresh._map, fresh._patch, fresh.broken
        self._cols.clear()
        self._every = self._bases = None
        return self._stored(name)

    def _patched(self, name: str, stored: Any) -> list | None:
        """A stored column seen through the row map, with the patch's values over it."""
        n, rowmap = self._n, self._map
        col = stored
        if isinstance(stored, dict):  # sparse: stored row -> value
            col = [stored.get(j) for j in rowmap] if rowmap is not None else [stored.get(i) for i in range(n)]
        elif stored is not None and rowmap is not None:
            col = [stored[j] if j >= 0 else None for j in rowmap]
        if not self._patch:
            return col
        at, key = _AT.get(name), name[2:]
        kind = _KINDS.get(name[0], 0)
        patch = self._patch
        if col is None and len(patch) == n:  # every row read now (a first build): the column straight from them
            if self._every is None:
                self._every = [patch[i] for i in range(n)]
            rows = self._every
            if at is not None:
                col = [None if r is None else r[0][at] for r in rows]
            else:
                col = [None if r is None else r[kind].get(key) for r in rows]
            return col  # (a column no row has is all None: queries read it as no column)
        if at is not None:
            values = [(i, None if r is None else r[0][at]) for i, r in patch.items()]
        else:
            values = [(i, None if r is None else r[kind].get(key)) for i, r in patch.items()]
        if col is None:
            if all(x is None for _, x in values):
                return None
            col = [None] * n
        elif col is stored:
            col = list(stored)  # the stored column is shared: never changed in place
        for i, x in values:
            col[i] = x
        return col

    @property
    def bases(self) -> set[tuple[str, int]]:
        """Versions some version names as its base (they are `old`)."""
        if self._bases is None:
            self._bases = {b for b in self.column("a:base") or () if b is not None}
        return self._bases

    def check(self) -> None:
        """Raise as reading every record would: the first unreadable one's error, in (model, version) order."""
        if self.broken:
            raise self.broken[0]

    def views(self, rows: Any = None) -> list[RowView]:
        """Every version (or those `rows`) as RowViews, in row order, once check() has passed."""
        from .catalogviews import RowView

        self.check()
        return [RowView(self, i) for i in (range(self._n) if rows is None else rows)]


# -- loading and refreshing -------------------------------------------------------------------------
def load(store: RegistryFiles) -> Catalog | None:
    """The catalog of the work tree's registry, refreshed against the files; None when it is off or there is
    no git dir to keep it in (callers then read every file, as without it)."""
    path = _path(store)
    if path is None:
        return None
    since = time.time_ns() - scan.RACY_NS
    old = Stored.open(path, store.root)
    head = old.head if old is not None else {"models": {}, "rows": None}
    models, changed = scan.scan_models(store, head["models"], since, infos=False)  # model_rows checks those
    groups = tuple((name, e[2]) for name, e in models.items())
    sigs = scan.stat_rows(store, groups)
    rows = head.get("rows")
    if rows is not None and rows["groups"] == groups and rows["sigs"] == sigs:  # no STALE mark equals a stat
        patch = rows["patch"]
        cat = Catalog(groups, old, _unpacked(rows["map"]), patch, [], lambda: _rebuilt(store, path))
        if changed and scan.recorded(models, since) != head["models"]:
            _save(store, path, old, models, since, rows)
        return cat
    return _refresh(store, path, old, models, groups, sigs, since)


def model_rows(store: RegistryFiles) -> list[tuple[str, tuple, Any]] | None:
    """(name, version numbers, (description, aliases) or the error reading model.yaml) of every model, from
    the model folders' and model.yaml files' stats (no record is read or checked); None when it is off."""
    path = _path(store)
    if path is None:
        return None
    since = time.time_ns() - scan.RACY_NS
    old = Stored.open(path, store.root)
    head = old.head if old is not None else {"models": {}, "rows": None}
    models, changed = scan.scan_models(store, head["models"], since)
    if changed and scan.recorded(models, since) != head["models"]:
        _save(store, path, old, models, since, head.get("rows"))
    return [(name, nums, info) for name, (_, _, nums, info) in models.items()]


def _save(store: RegistryFiles, path: Path, old: Stored | None, models: dict, since: int, rows: Any) -> None:
    """Write new model entries beside the stored rows, whose columns' bytes are copied as they are."""
    data = old.data(rows["size"]) if old is not None and rows is not None else b""
    if data is not None:
        write(path, store.root, {"models": scan.recorded(models, since), "rows": rows}, data)


def _refresh(
    store: RegistryFiles, path: Path, old: Stored | None, models: dict, groups: tuple, sigs: bytes, since: int
) -> Catalog:
    """Keep the rows whose record's stat is unchanged, read the others, and write the catalog again."""
    rows = old.head.get("rows") if old is not None else None
    rowmap, patch, read = _carried(rows, groups, sigs)
    keys = [k for name, nums in groups for k in _keys(name, nums)]
    broken: dict[int, Exception] = {}
    for i, row in zip(read, read_rows(store, [keys[i] for i in read]), strict=True):
        if isinstance(row, Exception):
            broken[i], row = row, None
        patch[i] = row
    recorded = scan.marked_rows(sigs, since, broken)
    recover = lambda: _rebuilt(store, path)  # noqa: E731
    head: dict[str, Any] = {"models": scan.recorded(models, since)}
    if old is not None and rows is not None and rows["groups"] == groups and rows["sigs"] == recorded:
        if head["models"] != old.head["models"]:  # only rows marked STALE were read: nothing new to keep of them
            _save(store, path, old, models, since, rows)
        return Catalog(groups, old, rowmap, patch, list(broken.values()), recover)
    n = len(rowmap)
    stored = old if old is not None and rows is not None and any(j >= 0 for j in rowmap) else None
    through: list[int] | None = rowmap
    if (
        stored is not None
        and rows is not None
        and rows["nbase"] == n
        and all(j == i or j < 0 for i, j in enumerate(rowmap))
    ):
        through = None  # every row is its stored row, or patched
    cat = Catalog(groups, stored, through, patch, list(broken.values()), recover)
    kept = {i: r for i, r in patch.items() if r is not None}
    if stored is not None and rows is not None and len(kept) <= max(PATCH_MAX, n // 50):
        data = stored.data(rows["size"])  # the stored columns stay as they are, the rows read are a patch
        if data is not None:
            packed = None if through is None else array("i", through).tobytes()
            head["rows"] = {**rows, "groups": groups, "sigs": recorded, "map": packed, "patch": kept}
            write(path, store.root, head, data)
            return cat
    columns = {name: _stored_form(name, cat.column(name)) for name in cat.names()}
    data, where = encode({k: c for k, c in columns.items() if c is not None})
    head["rows"] = {
        "groups": groups,
        "sigs": recorded,
        "map": None,
        "patch": {},
        "columns": where,
        "size": len(data),
        "nbase": n,
    }
    write(path, store.root, head, data)
    decoded = {k: c for k, c in columns.items() if c is not None}
    return Catalog(groups, decoded, None, {}, list(broken.values()), recover)  # unreadable rows: None


def _carried(rows: dict | None, groups: tuple, sigs: bytes) -> tuple[list[int], dict[int, Any], list[int]]:
    """What the stored rows give of each row now: its stored row (`rowmap`, -1: none), its patched row, or
    nothing (`read`: the record's stat changed, or the version is new)."""
    n = len(sigs) // 32
    rowmap, patch, read = [-1] * n, {}, []  # type: ignore[var-annotated]
    if rows is None:
        return rowmap, patch, list(range(n))
    old_map, old_patch, old_sigs, now = (
        _unpacked(rows["map"]),
        rows["patch"],
        memoryview(rows["sigs"]),
        memoryview(sigs),
    )
    if rows["groups"] == groups:
        pairs: Any = enumerate(range(n))
    else:
        index = {key: j for j, key in enumerate(k for name, nums in rows["groups"] for k in _keys(name, nums))}
        pairs = enumerate(index.get(k) for name, nums in groups for k in _keys(name, nums))
    for i, j in pairs:
        if j is None or now[32 * i : 32 * i + 32] != old_sigs[32 * j : 32 * j + 32]:
            read.append(i)
        elif j in old_patch:
            patch[i] = old_patch[j]
        else:
            rowmap[i] = old_map[j] if old_map is not None else j
    return rowmap, patch, read


def _rebuilt(store: RegistryFiles, path: Path) -> Catalog:
    """Every record read again and the catalog written again (a stored column did not check)."""
    since = time.time_ns() - scan.RACY_NS
    models, _ = scan.scan_models(store, {}, since, infos=False)
    groups = tuple((name, e[2]) for name, e in models.items())
    return _refresh(store, path, None, models, groups, scan.stat_rows(store, groups), since)


def _keys(name: str, nums: tuple) -> list[tuple[str, int]]:
    return [(name, n) for n in nums]


def _unpacked(packed: bytes | None) -> list[int] | None:
    return None if packed is None else array("i", packed).tolist()


def _stored_form(name: str, col: list | None) -> Any:
    """A column as written: a list, or row -> value when few rows have one; where most values repeat, one
    object per distinct string (marshal then writes a reference for each repeat: smaller, faster to load)."""
    if col is None:
        return None
    held = len(col) - col.count(None)
    if held == 0:
        return None
    try:
        distinct = dict.fromkeys(col) if name[0] != "m" else {}  # (numbers seldom repeat)
    except TypeError:  # an unhashable value (a malformed record's): kept as it is
        distinct = {}
    if 0 < len(distinct) * 2 < len(col) and all(type(x) is str or x is None for x in distinct):
        col = list(map({x: x for x in distinct}.__getitem__, col))
    return {i: x for i, x in enumerate(col) if x is not None} if held * 4 < len(col) else col


def _path(store: RegistryFiles) -> Path | None:
    if os.environ.get("MLREG_NO_INDEX"):
        return None
    from ..core.repo import of_root

    try:
        return of_root(store.root).git_dir / "mlreg" / "catalog"
    except Exception:  # noqa: BLE001 - not a git work tree, an unreadable .git: no catalog, the plain reads answer
        return None
