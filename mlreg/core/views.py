"""What the library returns: views of versions and models, and the outcome of a write. Plain dataclasses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .records import Model, Version

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Outcome:
    """What a mutating operation did."""

    action: str
    model: str
    version: int | None
    paths: list[str]
    commit: str | None = None
    branch: str | None = None
    record: Version | None = None
    demoted: list[int] = field(default_factory=list)
    records: list[Version] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "model": self.model,
            "version": self.version,
            "commit": self.commit,
            "branch": self.branch,
            "paths": self.paths,
            "demoted": self.demoted,
            "versions": [
                {"model": r.name, "version": r.version, "from": r.params.get("imported_from")} for r in self.records
            ],
            "notes": self.notes,
        }


@dataclass
class VersionView:
    """A version record plus what is derived from the registry around it."""

    record: Version
    version_type: str
    folder: Path

    def to_dict(self) -> dict[str, Any]:
        return self.record.to_dict() | {"version_type": self.version_type, "path": str(self.folder)}


@dataclass
class ModelView:
    """A registered model with its versions."""

    model: Model
    versions: list[VersionView]

    def to_dict(self) -> dict[str, Any]:
        return self.model.to_dict() | {"versions": [v.to_dict() for v in self.versions]}


@dataclass
class ModelSummary:
    """One row of `list`: a model without reading its versions."""

    name: str
    description: str
    versions: int
    latest: int | None
    aliases: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ArtifactCheck:
    """One artifact re-hashed by verify."""

    model: str
    version: int
    location: str
    status: str  # ok | mismatch | missing | unreachable
    expected: str
    actual: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
