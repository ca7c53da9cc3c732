"""What sync read from MLflow: registered models, versions and the runs mlreg made, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field

from .desired import DIGEST

PLACEHOLDER = "mlreg.placeholder"  # a version created only to skip a number git does not use, then deleted


@dataclass
class HaveRun:
    """An MLflow run as search_runs returns it."""

    run_id: str
    experiment_id: str
    status: str
    deleted: bool
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, int] | None = None  # artifact path -> size, when the artifact store was listed (--artifacts)

    @property
    def complete(self) -> bool:
        return self.status == "FINISHED" and not self.deleted


@dataclass
class HaveVersion:
    """An MLflow model version as search_model_versions returns it."""

    number: int
    run_id: str | None
    source: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def owned(self) -> bool:
        return DIGEST in self.tags or PLACEHOLDER in self.tags


@dataclass
class HaveModel:
    """A registered model with its versions, aliases and the runs mlreg made for it."""

    name: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: dict[int, HaveVersion] = field(default_factory=dict)
    runs: dict[int, list[HaveRun]] = field(default_factory=dict)  # by tag mlreg.version
    exists: bool = True  # False: no registered model yet, but runs mlreg made for it (an interrupted sync)

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
