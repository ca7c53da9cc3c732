"""Bulk reads of MLflow's state for sync: a few calls in all, whatever the number of versions."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..actual import Actual, HaveModel, HaveRun, HaveVersion
from ..desired import REGISTRY, SYNC, TAG_MODEL, WantModel
from ..uri import Target

_NAMES_PER_QUERY = 100  # model names per `name IN (...)` filter (keeps GET URLs short)
IDS_PER_QUERY = 100  # run ids per `run_id IN (...)` filter


class Reader:
    """One tracking server (or the embedded store): the connection and its bulk reads."""

    def __init__(self, target: Target, workers: int | None = None):
        from mlflow import MlflowClient

        self.target = target
        self.client = MlflowClient(target.uri, target.uri)
        self.registry = self.client._get_registry_client()  # its writes skip MlflowClient's extra get per call
        self.tracking = self.client._tracking_client
        local = target.uri.startswith(("sqlite:", "file:", "/")) or "://" not in target.uri
        self.local = local
        self.workers = workers or (1 if local else 4)  # sqlite takes one writer; a server takes a few
        self.experiments: dict[str, tuple[str, bool]] = {}  # name -> (id, deleted)
        self._lock = threading.Lock()
        self.run_ids: dict[tuple[str, int], str] = {}  # (model, version) -> run id, for base_model_run_id
        self.kindless: set[str] = set()  # experiments with no mlflow.experimentKind tag (set when sync writes there)
        self.warnings: list[str] = []  # what sync left out and why (files not uploaded), for the report

    # -- reads -----------------------------------------------------------------------------
    def read(
        self,
        wants: list[WantModel],
        also: list[str],
        registry_id: str = "",
        *,
        whole: bool = False,
        artifacts: bool = False,
    ) -> Actual:
        """Registered models, versions, experiments and this registry's runs: a few calls in all, not per version.
        Runs are searched by the registry's id, so the cost stays flat whatever else the server holds."""
        scope = [w.name for w in wants]
        actual = Actual()
        for rm in self.search_models(scope + [n for n in also if n not in scope]):
            actual.models[rm.name] = HaveModel(
                rm.name, rm.description or "", dict(rm.tags), {a: int(v) for a, v in rm.aliases.items()}
            )
        if whole and registry_id:  # this registry's models that git no longer has (one query)
            for rm in self.pages(self.registry.search_registered_models, f"tags.`{REGISTRY}` = '{registry_id}'", 1000):
                if rm.name not in actual.models:
                    actual.orphans[rm.name] = HaveModel(rm.name, rm.description or "", dict(rm.tags))
        for mv in self.search_versions(list(actual.models) + list(actual.orphans)):
            hv = HaveVersion(int(mv.version), mv.run_id or None, mv.source or "", mv.description or "", dict(mv.tags))
            (actual.models.get(mv.name) or actual.orphans[mv.name]).versions[hv.number] = hv
        self.load_experiments()
        ids = sorted({eid for eid, _ in self.experiments.values()})  # all: runs in experiments git no longer uses
        mine = scope + list(actual.orphans)
        runs = [r for r in map(_have_run, self._search_runs(ids, mine, registry_id)) if r.registry == registry_id]
        legacy = [n for n in mine if (have := actual.models.get(n) or actual.orphans.get(n)) and have.legacy]
        if legacy:  # models an older sync made: their runs carry mlreg.model / mlreg.registry (until migrated)
            runs += [r for r in map(_have_run, self._legacy_runs(ids, legacy, registry_id)) if r.mark is None]
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
        runs += [r for r in map(_have_run, self._runs_by_id(ids, older)) if r.registry in (None, "", registry_id)]
        for run in runs:
            model, number = run.key or ("", 0)
            if model in actual.orphans:
                actual.orphans[model].runs.setdefault(number, []).append(run)
            elif model in scope:
                have = actual.models.setdefault(model, HaveModel(model, "", exists=False))
                have.runs.setdefault(number, []).append(run)
        self._read_training_runs(wants, actual)
        if artifacts:
            self._list_files([r for m in actual.models.values() for rs in m.runs.values() for r in rs if r.complete])
        return actual

    def _list_files(self, runs: list[HaveRun]) -> None:
        """What the artifact store holds for each run (path -> size): one listing per folder, a few at a time."""

        def walk(run: HaveRun) -> None:
            files: dict[str, int | None] = {}
            folders: list[str | None] = [None]
            while folders:
                for f in self.client.list_artifacts(run.run_id, folders.pop()):
                    if f.is_dir:
                        folders.append(f.path)
                    else:
                        files[f.path] = f.file_size
            run.files = files

        with ThreadPoolExecutor(max_workers=max(self.workers, 4), thread_name_prefix="mlreg-list") as pool:
            list(pool.map(walk, runs))

    def search_models(self, names: list[str]) -> list:
        return [
            rm
            for chunk in chunks(names, _NAMES_PER_QUERY)
            for rm in self.pages(self.registry.search_registered_models, _name_in(chunk), 1000)
        ]

    def search_versions(self, names: list[str]) -> list:
        return [
            mv
            for chunk in chunks(names, _NAMES_PER_QUERY)
            for mv in self.pages(self.registry.search_model_versions, _name_in(chunk), 10000)
        ]

    def _search_runs(self, experiment_ids: list[str], scope: list[str], registry_id: str = "") -> list:
        """This registry's runs (of the one model in `scope`, or of any): one LIKE on their SYNC tag, whose JSON has
        sorted keys (`..."model":M,"registry":R,"tags":...`). `_` in a name matches any character: callers keep
        only exact matches."""
        if not experiment_ids or not scope:
            return []
        rid = _json(registry_id)
        pattern = f'%"model":{_json(scope[0])},"registry":{rid},%' if len(scope) == 1 else f'%"registry":{rid},%'
        return self._all_runs(experiment_ids, f"tags.`{SYNC}` LIKE '{pattern}'")

    def _legacy_runs(self, experiment_ids: list[str], scope: list[str], registry_id: str = "") -> list:
        """Runs an older sync made (tagged mlreg.model / mlreg.registry, no SYNC tag yet)."""
        where = f"tags.`{TAG_MODEL}` = '{scope[0]}'" if len(scope) == 1 else f"tags.`{TAG_MODEL}` IS NOT NULL"
        if registry_id:
            where += f" AND tags.`{REGISTRY}` = '{registry_id}'"
        return self._all_runs(experiment_ids, where)

    def _runs_by_id(self, experiment_ids: list[str], run_ids: list[str]) -> list:
        return [
            r
            for chunk in chunks(run_ids, IDS_PER_QUERY)
            for r in self._all_runs(experiment_ids, "attributes.run_id IN (" + ", ".join(f"'{i}'" for i in chunk) + ")")
        ]

    def _all_runs(self, experiment_ids: list[str], where: str) -> list:
        from mlflow.entities import ViewType

        if not experiment_ids:
            return []
        out: list = []
        token = None
        while True:
            page = self.client.search_runs(experiment_ids, where, ViewType.ALL, 50000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    @staticmethod
    def pages(search: Callable, where: str, size: int) -> list:
        out, token = [], None
        while True:
            page = search(where, size, None, token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def load_experiments(self) -> None:
        from mlflow.entities import ViewType

        token = None
        while True:
            page = self.client.search_experiments(ViewType.ALL, 50000, page_token=token)
            for e in page:
                self.experiments[e.name] = (e.experiment_id, e.lifecycle_stage == "deleted")
                if "mlflow.experimentKind" not in (e.tags or {}):
                    self.kindless.add(e.name)
            token = page.token
            if not token:
                return

    def _read_training_runs(self, wants: list[WantModel], actual: Actual) -> None:
        """Look up `run.mlflow_run_id` only for versions MLflow does not have yet (nothing per version otherwise)."""
        from mlflow.exceptions import MlflowException

        for w in wants:
            have = actual.models.get(w.name)
            for v in w.versions.values():
                if not v.mlflow_run_id or (have and v.number in have.versions):
                    continue
                try:
                    actual.training_runs[v.mlflow_run_id] = _have_run(self.client.get_run(v.mlflow_run_id))
                except MlflowException as e:
                    if e.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                        raise


def _have_run(run) -> HaveRun:
    return HaveRun(
        run.info.run_id,
        run.info.experiment_id,
        run.info.status,
        run.info.lifecycle_stage == "deleted",
        run.info.artifact_uri,
        dict(run.data.params),
        dict(run.data.metrics),
        dict(run.data.tags),
    )


def _name_in(names: list[str]) -> str:
    return "name IN (" + ", ".join(f"'{n}'" for n in names) + ")"


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
