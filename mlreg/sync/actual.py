"""What sync read from MLflow: registered models, versions and the runs mlreg made, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .desired import DIGEST, REGISTRY, TAG_MODEL, TAG_VERSION, read_marker, read_version_marker

PLACEHOLDER = "mlreg.placeholder"  # a version created only to skip a number git does not use, then deleted


class Marked:
    """What sync made carries its bookkeeping in tags: the `mlreg.sync` marker, or an older sync's mlreg.digest."""

    tags: dict[str, str]

    @property
    def mark(self) -> dict[str, Any] | None:
        return read_marker(self.tags)

    @property
    def digest(self) -> str | None:
        return (self.mark or {}).get("digest") or self.tags.get(DIGEST)


@dataclass
class HaveRun(Marked):
    """An MLflow run as search_runs returns it."""

    run_id: str
    experiment_id: str
    status: str
    deleted: bool
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, int | None] | None = None  # artifact path -> size, if the artifact store was listed (--artifacts)

    @property
    def complete(self) -> bool:
        return self.status == "FINISHED" and not self.deleted

    @property
    def registry(self) -> str | None:
        """The registry that made it ("" before that registry's first commit); None: no registry recorded."""
        mark = self.mark
        return mark.get("registry") if mark else self.tags.get(REGISTRY)

    @property
    def key(self) -> tuple[str, int] | None:
        """(model, version) it mirrors: from SYNC, else an older sync's mlreg.model / mlreg.version tags."""
        mark = self.mark
        model, number = (
            (mark.get("model"), str(mark.get("version", "")))
            if mark
            else (self.tags.get(TAG_MODEL), self.tags.get(TAG_VERSION, ""))
        )
        return (model, int(number)) if isinstance(model, str) and model and number.isdigit() else None


@dataclass
class HaveVersion(Marked):
    """An MLflow model version as search_model_versions returns it."""

    number: int
    run_id: str | None
    source: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def mark(self) -> dict[str, Any] | None:
        """The version's SYNC tag: the short form (digest prefix and listed keys), or an earlier sync's JSON."""
        return read_version_marker(self.tags)

    @property
    def owned(self) -> bool:
        return self.mark is not None or DIGEST in self.tags or PLACEHOLDER in self.tags


@dataclass
class HaveModel(Marked):
    """A registered model with its versions, aliases and the runs mlreg made for it."""

    name: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: dict[int, HaveVersion] = field(default_factory=dict)
    runs: dict[int, list[HaveRun]] = field(default_factory=dict)  # by tag mlreg.version
    exists: bool = True  # False: no registered model yet, but runs mlreg made for it (an interrupted sync)

    @property
    def legacy(self) -> bool:
        """Made by an older sync (bookkeeping in mlreg.digest, its runs tagged mlreg.model / mlreg.version)."""
        return self.mark is None and DIGEST in self.tags

    def run_id_of(self, number: int) -> str | None:
        """The run a version uses: the model version's own, else a complete run mlreg made for it."""
        hv = self.versions.get(number)
        if hv is not None and hv.run_id:
            return hv.run_id
        done = [r for r in self.runs.get(number, []) if r.complete]
        return done[0].run_id if done else None


@dataclass
class Actual:
    """Everything sync read from MLflow."""

    models: dict[str, HaveModel] = field(default_factory=dict)  # registered models (or runs made for one)
    training_runs: dict[str, HaveRun] = field(default_factory=dict)  # run.mlflow_run_id lookups
    orphans: dict[str, HaveModel] = field(default_factory=dict)  # this registry's models that git no longer has
