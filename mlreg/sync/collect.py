"""MLflow's state for sync, assembled from a few bulk questions that any of three sources answers.

MLflow's own client (`mlflow_io.Reader`), MLflow's sqlite database read directly (`light_sql`) and its REST API
read with urllib (`light_rest`) answer the same questions; `read_actual` asks them and builds `Actual`, so the
plan sees the same thing whichever source answered. Pure data: no mlflow here.
"""

from __future__ import annotations

import json
from typing import Protocol

from .actual import Actual, HaveModel, HaveRun, HaveVersion
from .desired import REGISTRY, SYNC, TAG_MODEL, WantModel

NAMES_PER_QUERY = 100  # model names per `name IN (...)` filter (keeps GET URLs short)
IDS_PER_QUERY = 100  # run ids per `run_id IN (...)` filter


class Unanswerable(Exception):
    """A light source cannot answer a question exactly as MLflow would: sync asks MLflow's client instead."""


class Source(Protocol):
    """The bulk questions sync asks MLflow (see the module docstring)."""

    def models_named(self, names: list[str]) -> list[HaveModel]:
        """Registered models named `names` (exact names), with tags and aliases."""
        ...

    def registry_models(self, registry_id: str) -> list[HaveModel]:
        """Registered models tagged REGISTRY = `registry_id` (aliases not needed)."""
        ...

    def versions_of(self, names: list[str]) -> list[tuple[str, HaveVersion]]:
        """(model name, version) of every live model version of the models `names`."""
        ...

    def experiment_ids(self) -> list[str]:
        """Every experiment, deleted ones too."""
        ...

    def sync_runs(self, experiment_ids: list[str], pattern: str) -> list[HaveRun]:
        """Runs (deleted too) in `experiment_ids` whose SYNC tag is LIKE `pattern` (case-sensitive, as MLflow)."""
        ...

    def legacy_runs(self, experiment_ids: list[str], scope: list[str], registry_id: str) -> list[HaveRun]:
        """Runs an older sync made (see legacy_filter)."""
        ...

    def runs_by_id(self, experiment_ids: list[str], run_ids: list[str]) -> list[HaveRun]:
        """The runs among `run_ids` in `experiment_ids` (deleted too)."""
        ...

    def get_run(self, run_id: str) -> HaveRun | None:
        """One run by id; None when MLflow has no such run."""
        ...

    def list_files(self, runs: list[HaveRun]) -> None:
        """Fill in `files` (artifact path -> size) of each run from its artifact store."""
        ...


def read_actual(
    src: Source,
    wants: list[WantModel],
    also: list[str],
    registry_id: str = "",
    *,
    whole: bool = False,
    artifacts: bool = False,
) -> Actual:
    """Registered models, versions and this registry's runs: a few questions in all, not per version. Runs are
    searched by the registry's id, so the cost stays flat whatever else the server holds."""
    scope = [w.name for w in wants]
    actual = Actual()
    for have in src.models_named(scope + [n for n in also if n not in scope]):
        actual.models[have.name] = have
    if whole and registry_id:  # this registry's models that git no longer has (one query)
        for have in src.registry_models(registry_id):
            if have.name not in actual.models:
                actual.orphans[have.name] = HaveModel(have.name, have.description, dict(have.tags))
    for name, hv in src.versions_of(list(actual.models) + list(actual.orphans)):
        (actual.models.get(name) or actual.orphans[name]).versions[hv.number] = hv
    ids = sorted(set(src.experiment_ids()))  # all: runs in experiments git no longer uses
    mine = scope + list(actual.orphans)
    runs = []
    if ids and mine:
        runs = [r for r in src.sync_runs(ids, sync_pattern(mine, registry_id)) if r.registry == registry_id]
    legacy = [n for n in mine if (made := actual.models.get(n) or actual.orphans.get(n)) and made.legacy]
    if legacy and ids:  # models an older sync made: their runs carry mlreg.model / mlreg.registry (until migrated)
        runs += [r for r in src.legacy_runs(ids, legacy, registry_id) if r.mark is None]
    # runs made before registries had ids (or by an interrupted migration): the ones this registry's versions use
    seen = {r.run_id for r in runs}
    older = sorted(
        {
            hv.run_id
            for n in scope
            if n in actual.models
            for hv in actual.models[n].versions.values()
            if hv.owned and hv.run_id and hv.run_id not in seen
        }
    )
    if older and ids:
        runs += [r for r in src.runs_by_id(ids, older) if r.registry in (None, "", registry_id)]
    for run in runs:
        model, number = run.key or ("", 0)
        if model in actual.orphans:
            actual.orphans[model].runs.setdefault(number, []).append(run)
        elif model in scope:
            have = actual.models.setdefault(model, HaveModel(model, "", exists=False))
            have.runs.setdefault(number, []).append(run)
    for have in [*actual.models.values(), *actual.orphans.values()]:
        for found in have.runs.values():
            found.sort(key=lambda r: r.run_id)  # the same order whichever source answered
    _read_training_runs(src, wants, actual)
    if artifacts:
        src.list_files([r for m in actual.models.values() for rs in m.runs.values() for r in rs if r.complete])
    return actual


def _read_training_runs(src: Source, wants: list[WantModel], actual: Actual) -> None:
    """Look up `run.mlflow_run_id` only for versions MLflow does not have yet (nothing per version otherwise)."""
    for w in wants:
        have = actual.models.get(w.name)
        for v in w.versions.values():
            if not v.mlflow_run_id or (have and v.number in have.versions):
                continue
            run = src.get_run(v.mlflow_run_id)
            if run is not None:
                actual.training_runs[v.mlflow_run_id] = run


# -- the filters MLflow's search API takes (the REST and client sources send these very strings) -------------
def sync_pattern(scope: list[str], registry_id: str) -> str:
    """LIKE pattern for this registry's runs (of the one model in `scope`, or of any) on their SYNC tag, whose
    JSON has sorted keys (`..."model":M,"registry":R,"tags":...`). `_` in a name matches any character: callers
    keep only exact matches."""
    rid = _json(registry_id)
    return f'%"model":{_json(scope[0])},"registry":{rid},%' if len(scope) == 1 else f'%"registry":{rid},%'


def sync_filter(pattern: str) -> str:
    return f"tags.`{SYNC}` LIKE '{pattern}'"


def legacy_filter(scope: list[str], registry_id: str) -> str:
    """Runs an older sync made (tagged mlreg.model / mlreg.registry, no SYNC tag yet)."""
    where = f"tags.`{TAG_MODEL}` = '{scope[0]}'" if len(scope) == 1 else f"tags.`{TAG_MODEL}` IS NOT NULL"
    if registry_id:
        where += f" AND tags.`{REGISTRY}` = '{registry_id}'"
    return where


def ids_filter(run_ids: list[str]) -> str:
    return "attributes.run_id IN (" + ", ".join(f"'{i}'" for i in run_ids) + ")"


def names_filter(names: list[str]) -> str:
    return "name IN (" + ", ".join(f"'{n}'" for n in names) + ")"


def registry_filter(registry_id: str) -> str:
    return f"tags.`{REGISTRY}` = '{registry_id}'"


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
