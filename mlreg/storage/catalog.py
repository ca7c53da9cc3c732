"""The registry's versions as columns, kept under the git dir and checked against the work tree on every read.

`search`, `find` and `list` ask a few fields of every version; at 100,000 versions parsing every metadata.json
is what takes the time. The catalog keeps those fields in columns (one list per attribute, metric, param or
tag) and, beside them, each file's stat (mtime, ctime, size, inode) and each model folder's. Every read stats
them all again: a file that changed is read again, a model folder that changed is listed again. It is never
trusted over the files: a stale entry is re-read, an unreadable, corrupt or foreign catalog is rebuilt, a file
changed within RACY_NS of a build is never cached (its stat could not tell a later edit), and nothing of it
is committed (it lives in the git dir). `MLREG_NO_INDEX=1` turns it off (the answers are the same).
"""

from __future__ import annotations

import marshal
import os
import time
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..core.files import MODEL_FILE, VERSION_FILE, RegistryFiles
from ..core.records import NAME_RE, Version
from ..errors import MlregError
from .catalogfile import Stored, write

RACY_NS = 2_000_000_000  # a file changed this close to a build may change again within the same stat
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
_STALE = (0, 0, 0, 0)  # changed too recently (or unreadable): never cached, never equal to anything
_MISSING = (0, 0, 0, 1)  # no such file (a model folder without model.yaml): a stat like any other


def _attrs(v: Version) -> tuple:
    lin, run = v.lineage, v.run
    base = (lin.base.model, lin.base.version) if lin.base else None
    return (
        v.name,
        v.version,
        v.stage,
        v.created_at,
        v.created_by,
        v.description,
        lin.model_type,
        lin.enhancement_type,
        run.experiment,
        run.name,
        run.mlflow_run_id,
        base,
    )


def _row(v: Version) -> tuple:
    """What the catalog keeps of one version: its attributes and its metrics, params and tags as recorded."""
    return _attrs(v), dict(v.metrics), dict(v.params), dict(v.tags)


def _sig(st: os.stat_result, since: int) -> tuple[int, int, int, int]:
    if st.st_mtime_ns >= since or st.st_ctime_ns >= since:
        return _STALE
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino


class Catalog:
    """Columns of every version, in (model, version) order, fresh against the work tree when loaded."""

    def __init__(
        self,
        keys: list[tuple[str, int]],
        models: dict[str, Any],
        columns: dict[str, Any],
        blob: Any = None,
        rebuild: Any = None,
    ):
        self.keys = keys  # (model, version) per row
        self._models = models  # name -> (description, aliases) from model.yaml, or the error reading it
        self._columns = columns  # name -> list (dense) or dict row -> value (sparse), or where its bytes are
        self._blob = blob  # (offset, length, crc) -> the checked bytes, or None when they are corrupt
        self._rebuild = rebuild  # -> fresh decoded columns, read from the files (a corrupt blob's way out)
        self._decoded: dict[str, Any] = {}
        self._bases: set[tuple[str, int]] | None = None

    def column(self, name: str) -> Any:
        """A column by name (`a:stage`, `m:rmse_val`, `p:timeframe`, `t:team`); None when no row has it."""
        try:
            return self._decoded[name]
        except KeyError:
            col = self._columns.get(name)
            if isinstance(col, _Where):
                data = self._blob(col)
                if data is None:  # corrupt: never served; the files are read again
                    columns, keys = self._rebuild()
                    if keys != self.keys:
                        raise MlregError(
                            "the registry changed while it was being read; run the command again"
                        ) from None
                    self._columns = columns
                    col = columns.get(name)
                else:
                    col = marshal.loads(data)
            self._decoded[name] = col
            return col

    def value(self, kind: str, key: str, row: int) -> Any:
        col = self.column(f"{kind}:{key}")
        if col is None:
            return None
        return col.get(row) if isinstance(col, dict) else col[row]

    @property
    def bases(self) -> set[tuple[str, int]]:
        """Versions some version names as its base (they are `old`)."""
        if self._bases is None:
            self._bases = {b for b in self.column("a:base") if b is not None}
        return self._bases

    @property
    def models(self) -> dict[str, tuple[str, dict[str, int]]]:
        """name -> (description, aliases); a model.yaml that cannot be read raises as reading it would."""
        for found in self._models.values():
            if isinstance(found, Exception):
                raise found
        return self._models

    def views(self, rows: Iterable[int] | None = None) -> list[RowView]:
        """Every version (or those `rows`) as RowViews, in (model, version) order; a record that cannot be read
        raises as reading every record would (the first one, in that order)."""
        broken = self.column("broken")
        if broken:
            raise broken[0]
        return [RowView(self, i) for i in (range(len(self.keys)) if rows is None else rows)]

    def rows_with(self, kind: str, key: str, test: Callable[[Any], bool]) -> list[int]:
        """Rows whose value of a metric (`m`), param (`p`) or tag (`t`) passes `test` (None: the row has none),
        one pass over one column: what narrows a query before its views are made."""
        col = self.column(f"{kind}:{key}")
        if col is None:
            return []
        items = col.items() if isinstance(col, dict) else enumerate(col)
        return sorted(i for i, x in items if x is not None and test(x))


class _Where(tuple):
    """Where a column's marshal bytes are in the file: (offset, length, crc32)."""


# -- rows as views: what search and find read of a version, served from the columns ------------------------
class _Fields:
    """A version's metrics, params or tags (`.get` only: all that queries ask)."""

    __slots__ = ("_cat", "_kind", "_row")

    def __init__(self, cat: Catalog, kind: str, row: int):
        self._cat, self._kind, self._row = cat, kind, row

    def get(self, key: str, default: Any = None) -> Any:
        x = self._cat.value(self._kind, key, self._row)
        return default if x is None else x


class _Part:
    """record.lineage / record.run: named attributes read from columns."""

    __slots__ = ("_cat", "_row", "_names")

    def __init__(self, cat: Catalog, row: int, names: dict[str, str]):
        self._cat, self._row, self._names = cat, row, names

    def __getattr__(self, attr: str) -> Any:
        if attr not in self._names:
            raise AttributeError(attr)
        if attr == "base":
            base = self._cat.column("a:base")[self._row]
            return None if base is None else _Base(*base)
        return self._cat.column(f"a:{self._names[attr]}")[self._row]


class _Base:
    __slots__ = ("model", "version")

    def __init__(self, model: str, version: int):
        self.model, self.version = model, version


_LINEAGE = {"model_type": "model_type", "enhancement_type": "enhancement_type", "base": "base"}
_RUN = {"experiment": "experiment", "name": "run_name", "mlflow_run_id": "run_id"}


class RowRecord:
    """The fields of a version record that queries read, from the catalog's columns."""

    __slots__ = ("_cat", "row")

    def __init__(self, cat: Catalog, row: int):
        self._cat, self.row = cat, row

    def _a(self, name: str) -> Any:
        return self._cat.column(f"a:{name}")[self.row]

    name = property(lambda self: self._cat.keys[self.row][0])
    version = property(lambda self: self._cat.keys[self.row][1])
    stage = property(lambda self: self._a("stage"))
    created_at = property(lambda self: self._a("created_at"))
    created_by = property(lambda self: self._a("created_by"))
    description = property(lambda self: self._a("description"))
    metrics = property(lambda self: _Fields(self._cat, "m", self.row))
    params = property(lambda self: _Fields(self._cat, "p", self.row))
    tags = property(lambda self: _Fields(self._cat, "t", self.row))
    lineage = property(lambda self: _Part(self._cat, self.row, _LINEAGE))
    run = property(lambda self: _Part(self._cat, self.row, _RUN))
    ref = property(lambda self: f"{self.name}/{self.version}")


class RowView:
    """A VersionView's face for queries (record, version_type) over one catalog row."""

    __slots__ = ("record",)

    def __init__(self, cat: Catalog, row: int):
        self.record = RowRecord(cat, row)

    @property
    def version_type(self) -> str:
        r = self.record
        return "old" if (r.name, r.version) in r._cat.bases else "latest"


# -- loading and refreshing -------------------------------------------------------------------------
def load(store: RegistryFiles) -> Catalog | None:
    """The catalog of the work tree's registry, refreshed against the files; None when it is off or there is
    no git dir to keep it in (callers then read every file, as without it)."""
    if os.environ.get("MLREG_NO_INDEX"):
        return None
    path = _path(store.root)
    if path is None:
        return None
    since = time.time_ns() - RACY_NS
    old = Stored.open(path, store.root)
    dirs, keys, sigs = _scan(store, old.head if old else None, since)
    if (
        old is not None
        and old.head["keys"] == keys
        and old.head["sigs"] == sigs
        and old.head["dirs"] == dirs
        and not _has_stale(sigs, dirs)
    ):  # two stale marks are equal, but say nothing of the bytes
        return Catalog(
            keys,
            old.head["models"],
            {k: _Where(w) for k, w in old.head["columns"].items()},
            old.blob,
            lambda: _build(store, path, None),
        )
    return _build(store, path, old, (dirs, keys, sigs))


def _build(store: RegistryFiles, path: Path, old: Stored | None, scanned: tuple | None = None) -> Any:
    """Read what changed (everything without `old`), write the catalog; a Catalog, or with no `scanned`
    (a corrupt column's rebuild) its decoded columns."""
    dirs, keys, sigs = scanned or _scan(store, None, time.time_ns() - RACY_NS)
    rows = old.rows() if old is not None else None
    fresh = _refresh(store, (old.head, rows) if old is not None and rows is not None else None, keys, sigs)
    models = _models(store, old.head if old else None, dirs)
    broken = [i for i, r in enumerate(fresh) if isinstance(r, Exception)]
    if broken:  # never cached: marked stale, so the next read tries them again
        stale = bytearray(sigs)
        for i in broken:
            stale[i * 32 : (i + 1) * 32] = _STALE_BYTES
        sigs = bytes(stale)
    bad_models = [n for n, m in models.items() if isinstance(m, Exception)]
    dirs = {n: (d if n not in bad_models else (d[0], _STALE)) for n, d in dirs.items()}
    rows = [r if not isinstance(r, Exception) else None for r in fresh]
    columns = _columns(rows)
    write(
        path,
        store.root,
        {"keys": keys, "sigs": sigs, "dirs": dirs, "models": {n: m for n, m in models.items() if n not in bad_models}},
        rows,
        columns,
    )
    columns["broken"] = [fresh[i] for i in broken]
    return Catalog(keys, models, columns) if scanned else (columns, keys)


def _path(root: Path) -> Path | None:
    from ..core.repo import of_root

    try:
        return of_root(root).git_dir / "mlreg" / "catalog"
    except Exception:  # noqa: BLE001 - not a git work tree, an unreadable .git: no catalog, the plain reads answer
        return None


def _scan(store: RegistryFiles, old: dict | None, since: int) -> tuple[dict, list[tuple[str, int]], bytes]:
    """Each model folder's stat, every (model, version) present and each metadata.json's stat, in row order.
    A model folder whose stat is unchanged holds the versions it held (adding or removing one changes it)."""
    known: dict[str, list[int]] = {}
    if old is not None:
        for name, n in old["keys"]:
            known.setdefault(name, []).append(n)
    old_dirs = old["dirs"] if old is not None else {}
    dirs: dict[str, tuple] = {}
    keys: list[tuple[str, int]] = []
    sigs = array("q")
    reg = str(store.registry_dir)
    try:
        found = sorted(
            (e.name, e) for e in os.scandir(reg) if e.is_dir(follow_symlinks=False) and NAME_RE.match(e.name)
        )
    except FileNotFoundError:
        found = []
    for name, entry in found:
        sig = _sig(entry.stat(follow_symlinks=False), since)
        dirs[name] = (sig, _stat(f"{reg}/{name}/{MODEL_FILE}", since))
        same = sig != _STALE and old_dirs.get(name, (None,))[0] == sig
        nums = known.get(name, []) if same else store.version_numbers(name)
        keys += [(name, n) for n in nums]
        _stat_records(f"{reg}/{name}/v", nums, since, sigs)
    return dirs, keys, sigs.tobytes()


def _stat_records(folder: str, nums: list[int], since: int, sigs: array) -> None:
    """The stats of `folder<N>/metadata.json` for every N, appended to `sigs` (the hot loop: 100,000 calls at
    100,000 versions, so _sig and _stat are written out here)."""
    stat, stale, missing = os.stat, _STALE, _MISSING
    for n in nums:
        try:
            st = stat(f"{folder}{n}/{VERSION_FILE}", follow_symlinks=False)
        except FileNotFoundError:
            sigs.extend(missing)
            continue
        except OSError:
            sigs.extend(stale)
            continue
        m, c = st.st_mtime_ns, st.st_ctime_ns
        sigs.extend(stale if m >= since or c >= since else (m, c, st.st_size, st.st_ino))


def _has_stale(sigs: bytes, dirs: dict[str, tuple]) -> bool:
    """A stat marked stale (changed too recently to be told apart from a later change), in the rows or dirs."""
    at = sigs.find(_STALE_BYTES)
    while at != -1:
        if at % 32 == 0:
            return True
        at = sigs.find(_STALE_BYTES, at + 1)
    return any(_STALE in d for d in dirs.values())


def _stat(path: str, since: int) -> tuple[int, int, int, int]:
    try:
        return _sig(os.stat(path, follow_symlinks=False), since)
    except FileNotFoundError:
        return _MISSING
    except OSError:
        return _STALE


def _refresh(
    store: RegistryFiles, old: tuple[dict, list] | None, keys: list[tuple[str, int]], sigs: bytes
) -> list[tuple]:
    """Rows for `keys`: kept from the old catalog where the file's stat is unchanged, else read again."""
    kept: dict[tuple[str, int], tuple] = {}
    if old is not None:
        head, rows = old
        old_sigs = memoryview(head["sigs"])
        for i, key in enumerate(head["keys"]):
            kept[key] = (old_sigs[i * 32 : (i + 1) * 32], rows[i])
    view, out = memoryview(sigs), []
    for i, (name, n) in enumerate(keys):
        sig = view[i * 32 : (i + 1) * 32]
        hit = kept.get((name, n))
        if hit is not None and hit[0] == sig and sig != _STALE_BYTES:
            out.append(hit[1])
            continue
        try:
            out.append(_row(store.version(name, n, validate=False)))
        except MlregError as e:  # kept as the error, and read again next time (its stat is marked stale)
            out.append(e)
    return out


_STALE_BYTES = array("q", _STALE).tobytes()


def _models(store: RegistryFiles, old: dict | None, dirs: dict[str, tuple]) -> dict[str, tuple]:
    """name -> (description, aliases) of model.yaml, read again where its stat changed."""
    old_models, old_dirs = (old["models"], old["dirs"]) if old is not None else ({}, {})
    out = {}
    for name, (_, sig) in dirs.items():
        if sig != _STALE and name in old_models and old_dirs.get(name, (None, None))[1] == sig:
            out[name] = old_models[name]
            continue
        try:
            model = store.model(name, validate=False)
            out[name] = (model.description, dict(model.aliases))
        except MlregError as e:
            out[name] = e
    return out


def _columns(rows: list[tuple]) -> dict[str, Any]:
    """One column per attribute (dense) and per metric, param and tag key (dense when most rows have it)."""
    none = (None,) * len(ATTRS)
    cols: dict[str, Any] = {f"a:{a}": [(r[0] if r else none)[i] for r in rows] for i, a in enumerate(ATTRS)}
    for kind, at in (("m", 1), ("p", 2), ("t", 3)):
        sparse: dict[str, dict[int, Any]] = {}
        for i, r in enumerate(rows):
            for k, x in r[at].items() if r else ():
                sparse.setdefault(k, {})[i] = x
        for k, col in sparse.items():
            cols[f"{kind}:{k}"] = [col.get(i) for i in range(len(rows))] if len(col) * 4 > len(rows) else col
    return cols
