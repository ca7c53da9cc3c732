"""Reads for `mlreg import mlflow` (it never writes to MLflow): registered models, versions, runs and files, as
plain data the importer plans from."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .reads import IDS_PER_QUERY, Reader, chunks
from .session import restore_env


@dataclass
class SourceRun:
    """The MLflow run a model version was made from."""

    run_id: str
    experiment: str | None
    name: str | None
    start_ms: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class SourceVersion:
    """One MLflow model version."""

    number: int
    description: str
    source: str
    run_id: str | None
    current_stage: str | None  # MLflow's legacy stage (None, Staging, Production, Archived)
    created_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)
    run: SourceRun | None = None


@dataclass
class SourceModel:
    """One MLflow registered model with its versions, oldest first."""

    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: list[SourceVersion] = field(default_factory=list)


def read_models(io: Reader, names: list[str] | None) -> list[SourceModel]:
    """Registered models (every one, or these) without their versions, sorted by name."""
    found = io.search_models(names) if names else io.pages(io.registry.search_registered_models, "", 1000)
    models = [
        SourceModel(rm.name, rm.description or "", dict(rm.tags), {a: int(v) for a, v in rm.aliases.items()})
        for rm in found
    ]
    return sorted(models, key=lambda m: m.name)


def read_versions(io: Reader, models: list[SourceModel]) -> None:
    """Fill in each model's versions (oldest first) and their runs: a few bulk calls in all, not per version."""
    by_name = {m.name: m for m in models}
    for mv in io.search_versions(sorted(by_name)):
        by_name[mv.name].versions.append(
            SourceVersion(
                int(mv.version),
                mv.description or "",
                mv.source or "",
                mv.run_id or None,
                mv.current_stage or None,
                mv.creation_timestamp,
                dict(mv.tags),
            )
        )
    runs = _read_runs(io, sorted({v.run_id for m in models for v in m.versions if v.run_id}))
    for m in models:
        m.versions.sort(key=lambda v: v.number)
        for v in m.versions:
            v.run = runs.get(v.run_id or "")


def _read_runs(io: Reader, run_ids: list[str]) -> dict[str, SourceRun]:
    """run id -> SourceRun, by `run_id IN (...)` searches over every experiment (deleted runs too)."""
    from mlflow.entities import ViewType

    if not run_ids:
        return {}
    io.load_experiments()
    experiments = {eid: name for name, (eid, _) in io.experiments.items()}
    out = {}
    for chunk in chunks(run_ids, IDS_PER_QUERY):
        where = "attributes.run_id IN (" + ", ".join(f"'{r}'" for r in chunk) + ")"
        token = None
        while True:
            page = io.client.search_runs(sorted(experiments), where, ViewType.ALL, 50000, page_token=token)
            for r in page:
                out[r.info.run_id] = SourceRun(
                    r.info.run_id,
                    experiments.get(r.info.experiment_id),
                    r.info.run_name,
                    r.info.start_time,
                    dict(r.data.params),
                    dict(r.data.metrics),
                    dict(r.data.tags),
                )
            token = page.token
            if not token:
                break
    return out


def download_version(io: Reader, name: str, number: int, source: str, dest: Path) -> tuple[str, Path | None]:
    """Where MLflow keeps a model version's files, and a local copy of them under `dest` (None when MLflow has
    no files there). A `models:/` or `runs:/` source is resolved to its storage location first."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    location = source
    if not source or source.startswith(("models:/", "runs:/")):
        location = io.registry.get_model_version_download_uri(name, str(number))
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with _default_store(io.target.uri):
            local = Path(
                download_artifacts(
                    artifact_uri=location, dst_path=str(dest), tracking_uri=io.target.uri, registry_uri=io.target.uri
                )
            )
    except FileNotFoundError:
        return location, None
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return location, None
        raise
    meta = local / "registered_model_meta"  # written by MLflow's models:/ downloader, not stored in MLflow
    if location.startswith(("models:/", "runs:/")) and meta.is_file():
        meta.unlink()
    return location, local


@contextmanager
def _default_store(uri: str) -> Iterator[None]:
    """MLflow's logged-model fallback behind a `runs:/` source opens a client on the default tracking URI, not the
    one passed in: point the default at the store being read meanwhile (else it reads, or creates, ./mlflow.db)."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ.update(dict.fromkeys(saved, uri))
    try:
        yield
    finally:
        restore_env(saved)
