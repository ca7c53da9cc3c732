"""The records every module shares: Settings, Model, Version (+ to/from plain JSON data)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Digest = tuple[int, str]  # an artifact's (size, sha256 hex)
Hasher = Callable[[str], "Digest | None"]  # repo-relative path -> its digest (None: no such plain file)

SCHEMA_VERSION = 1
# \Z, not $: `$` also matches before a final newline, so "x\n" would pass; match() with \Z is a full match
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
KEY_RE = re.compile(r"^[A-Za-z0-9_\-. /]{1,250}\Z")  # param, metric and tag keys MLflow accepts
ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,254}\Z")
MUTABLE_VERSION_FIELDS = ("stage", "stage_history", "tags")


@dataclass
class StageSpec:
    """One stage of a lifecycle: where it may move, and whether one version holds it alone."""

    name: str
    to: list[str] = field(default_factory=list)
    exclusive: bool = False
    demote_to: str | None = None
    alias: str | None = None


@dataclass
class Settings:
    """mlreg.yaml: the lifecycle, allowed aliases and MLflow defaults."""

    stages: dict[str, StageSpec]
    initial: str
    require_reason: bool = True
    rollback: bool = True  # `mlreg rollback` may return an exclusive stage to a version that held it before
    aliases: list[str] | None = None
    tracking_uri: str | None = None
    experiment: str = "{model}"
    registry_id: str | None = None  # tells this registry's objects in a shared MLflow from another's
    store: str | None = None  # artifacts.store: where new versions' files go (None: into git)
    git_max_file_mb: float = 10.0  # artifacts.git_max_file_mb: bigger files need a store (or --allow-large)
    external: list[str] = field(default_factory=list)  # artifacts.external: URI prefixes a PR may record
    allow_imports: bool = False  # gate.allow_imports: a PR may add versions `import` wrote

    def alias_stages(self) -> dict[str, str]:
        """Stage name -> the MLflow alias it mirrors to."""
        return {s.name: s.alias for s in self.stages.values() if s.alias}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        lc = data.get("lifecycle") or DEFAULT_LIFECYCLE
        stages = {name: StageSpec(name=name, **(spec or {})) for name, spec in lc["stages"].items()}
        ml = data.get("mlflow") or {}
        art = data.get("artifacts") or {}
        return cls(
            stages=stages,
            initial=lc["initial"],
            require_reason=lc.get("require_reason", True),
            rollback=lc.get("rollback", True),
            aliases=data.get("aliases"),
            tracking_uri=ml.get("tracking_uri"),
            experiment=ml.get("experiment", "{model}"),
            registry_id=data.get("registry_id"),
            store=art.get("store"),
            git_max_file_mb=art.get("git_max_file_mb", 10.0),
            external=list(art.get("external") or []),
            allow_imports=bool((data.get("gate") or {}).get("allow_imports", False)),
        )


DEFAULT_LIFECYCLE: dict[str, Any] = {
    "initial": "development",
    "require_reason": True,
    "stages": {
        "development": {"to": ["beta", "archived"]},
        "beta": {"to": ["development", "champion", "archived"]},
        "champion": {"to": ["beta", "archived"], "exclusive": True, "demote_to": "archived", "alias": "champion"},
        "archived": {"to": ["development", "beta"]},
    },
}

PRESETS: dict[str, dict[str, Any]] = {
    "default": {"schema_version": SCHEMA_VERSION, "lifecycle": DEFAULT_LIFECYCLE},
    "candidate": {
        "schema_version": SCHEMA_VERSION,
        "lifecycle": {
            "initial": "none",
            "require_reason": True,
            "stages": {
                "none": {"to": ["candidate", "archived"]},
                "candidate": {"to": ["production", "archived", "none"]},
                "production": {
                    "to": ["archived", "candidate"],
                    "exclusive": True,
                    "demote_to": "archived",
                    "alias": "production",
                },
                "archived": {"to": ["candidate"]},
            },
        },
    },
    "aliases": {
        "schema_version": SCHEMA_VERSION,
        "lifecycle": {"initial": "none", "require_reason": False, "stages": {"none": {"to": []}}},
        "aliases": ["Staging", "Production"],
    },
}


@dataclass
class Model:
    """model.yaml: the registered model."""

    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    derived_models: list[str] = field(default_factory=list)  # models whose versions enhance this one's

    def to_dict(self) -> dict[str, Any]:
        out = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
            "aliases": dict(sorted(self.aliases.items())),
        }
        if self.derived_models:
            out["derived_models"] = sorted(self.derived_models)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        return cls(
            name=_scalar(data, "name", str),
            description=data.get("description", ""),
            tags=_mapping(data, "tags", str),
            aliases=_mapping(data, "aliases", int),
            derived_models=list(data.get("derived_models") or []),
        )


@dataclass
class Run:
    """Where the version came from in training."""

    experiment: str | None = None
    name: str | None = None
    mlflow_run_id: str | None = None
    training_timestamp: str | None = None


@dataclass
class StageChange:
    """One entry of stage_history (append-only)."""

    to: str
    at: str
    by: str
    action: str = "promote"
    from_: str | None = None
    reason: str | None = None
    commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"action": self.action, "from": self.from_, "to": self.to, "at": self.at, "by": self.by}
        out["reason"] = self.reason
        if self.commit:
            out["commit"] = self.commit
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageChange:
        return cls(
            to=d["to"],
            at=d["at"],
            by=d["by"],
            action=d.get("action", "promote"),
            from_=d.get("from"),
            reason=d.get("reason"),
            commit=d.get("commit"),
        )


@dataclass
class Base:
    """The version an enhanced version was built from."""

    model: str
    version: int


@dataclass
class Lineage:
    """How a version relates to earlier ones (base -> continued -> ...)."""

    model_type: str = "base"
    enhancement_type: str | None = None
    base: Base | None = None
    enhancement_timestamp: str | None = None
    previous_timesteps: int | None = None
    total_timesteps: int | None = None
    source_data_version: str | None = None
    hyperparameters_config_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = _drop_none(self.__dict__ | {"base": None})
        out["model_type"] = self.model_type
        if self.base:
            out["base"] = {"model": self.base.model, "version": self.base.version}
        return {k: out[k] for k in _LINEAGE_ORDER if k in out}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Lineage:
        base = d.get("base")
        return cls(**{k: v for k, v in d.items() if k != "base"}, base=Base(**base) if base else None)


_LINEAGE_ORDER = (
    "model_type",
    "enhancement_type",
    "base",
    "enhancement_timestamp",
    "previous_timesteps",
    "total_timesteps",
    "source_data_version",
    "hyperparameters_config_path",
)


@dataclass
class Artifact:
    """One file of a version: in the version folder (`path` only), outside it (`uri` only, --external), or in
    the object store (`uri`, placed at `path` on pull)."""

    sha256: str
    size: int
    path: str | None = None
    uri: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artifact:
        """An artifact record; a `path` that could leave the version folder is refused."""
        path = d.get("path")
        if path is not None and (not isinstance(path, str) or path.startswith("/") or ".." in path.split("/")):
            raise ValueError(f"artifact path {path!r} must stay inside the version folder")
        return cls(**d)

    @property
    def in_git(self) -> bool:
        return self.uri is None

    @property
    def stored(self) -> bool:
        """Kept in the object store (both a store `uri` and the `path` it has in the version)."""
        return self.uri is not None and self.path is not None

    def to_dict(self) -> dict[str, Any]:
        loc = {"path": self.path} if self.path is not None else {}
        loc |= {"uri": self.uri} if self.uri is not None else {}
        return loc | {"sha256": self.sha256, "size": self.size}


@dataclass
class Version:
    """metadata.json: one model version."""

    name: str
    version: int
    created_at: str
    created_by: str
    stage: str
    description: str = ""
    run: Run = field(default_factory=Run)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    stage_history: list[StageChange] = field(default_factory=list)
    lineage: Lineage = field(default_factory=Lineage)
    artifacts: list[Artifact] = field(default_factory=list)
    notes: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """The metadata.json document, keys in the order of the spec."""
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "run": dict(self.run.__dict__),
            "params": dict(sorted(self.params.items())),
            "metrics": dict(sorted(self.metrics.items())),
            "tags": dict(sorted(self.tags.items())),
            "stage": self.stage,
            "stage_history": [c.to_dict() for c in self.stage_history],
            "lineage": self.lineage.to_dict(),
            "artifacts": [a.to_dict() for a in self.artifacts],
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Version:
        return cls(
            name=_scalar(d, "name", str),
            version=_scalar(d, "version", int),
            created_at=d["created_at"],
            created_by=d["created_by"],
            stage=_scalar(d, "stage", str),
            description=d.get("description", ""),
            run=Run(**(d.get("run") or {})),
            params=_mapping(d, "params", str),
            metrics=_mapping(d, "metrics", (int, float)),
            tags=_mapping(d, "tags", str),
            stage_history=[StageChange.from_dict(c) for c in d.get("stage_history") or []],
            lineage=Lineage.from_dict(d.get("lineage") or {}),
            artifacts=[Artifact.from_dict(a) for a in d.get("artifacts") or []],
            notes=d.get("notes", ""),
        )


def _mapping(d: dict[str, Any], key: str, values: type | tuple[type, ...]) -> dict[str, Any]:
    """`d[key]` as a dict of string keys to `values`; a wrong shape raises ValueError naming `$.key`."""
    m = d.get(key) or {}
    if not isinstance(m, dict):
        raise ValueError(f"$.{key}: expected a mapping")
    for k, v in m.items():
        if not isinstance(k, str) or not isinstance(v, values) or isinstance(v, bool):
            raise ValueError(f"$.{key}.{k}: invalid key or value {v!r}")
    return dict(m)


def _scalar(d: dict[str, Any], key: str, kind: type) -> Any:
    v = d[key]
    if not isinstance(v, kind) or isinstance(v, bool):
        raise ValueError(f"$.{key}: expected {kind.__name__}, got {v!r}")
    return v


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
