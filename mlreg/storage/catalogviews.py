"""Catalog rows (catalog.py) as views: what find reads of a version (record, version_type), served from the
columns, so that query.py's functions run over a few rows without reading their files."""

from __future__ import annotations

from typing import Any

Catalog = Any  # catalog.Catalog (which makes these views: not imported here)


class _Fields:
    """A version's metrics, params or tags (`.get` only: all that queries ask)."""

    __slots__ = ("_cat", "_kind", "_row")

    def __init__(self, cat: Catalog, kind: str, row: int):
        self._cat, self._kind, self._row = cat, kind, row

    def get(self, key: str, default: Any = None) -> Any:
        col = self._cat.column(f"{self._kind}:{key}")
        x = None if col is None else col[self._row]
        return default if x is None else x


class _Part:
    """record.lineage / record.run: named attributes read from columns."""

    __slots__ = ("_cat", "_row", "_names")

    def __init__(self, cat: Catalog, row: int, names: dict[str, str]):
        self._cat, self._row, self._names = cat, row, names

    def __getattr__(self, attr: str) -> Any:
        if attr not in self._names:
            raise AttributeError(attr)
        x = self._cat.column(f"a:{self._names[attr]}")[self._row]
        return _Base(*x) if attr == "base" and x is not None else x


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

    name = property(lambda self: self._a("name"))
    version = property(lambda self: self._a("version"))
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
    """A VersionView's face for queries (record, version_type) over one catalog row; `key` is the folder
    it was read from (model, version number)."""

    __slots__ = ("record",)

    def __init__(self, cat: Catalog, row: int):
        self.record = RowRecord(cat, row)

    @property
    def version_type(self) -> str:
        return self.record._cat.version_type(self.record.row)

    @property
    def key(self) -> tuple[str, int]:
        return self.record._cat.key(self.record.row)
