"""Bulk reads of MLflow's state for sync: a few calls in all, whatever the number of versions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..actual import Actual, HaveModel, HaveRun, HaveVersion
from ..collect import (
    IDS_PER_QUERY,
    NAMES_PER_QUERY,
    chunks,
    ids_filter,
    legacy_filter,
    names_filter,
    read_actual,
    registry_filter,
    sync_filter,
)
from ..desired import WantModel
from ..uri import Target

__all__ = ["IDS_PER_QUERY", "Reader", "chunks"]


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

    # -- reads ----------------------------------------------------------------------------------
    def read(
        self,
        wants: list[WantModel],
        also: list[str],
        registry_id: str = "",
        *,
        whole: bool = False,
        artifacts: bool = False,
    ) -> Actual:
        """Registered models, versions, experiments and this registry's runs: a few calls in all (collect.py)."""
        return read_actual(self, wants, also, registry_id, whole=whole, artifacts=artifacts)

    # -- the questions of collect.Source, answered by MLflow's client ------------------------------
    def models_named(self, names: list[str]) -> list[HaveModel]:
        return [
            HaveModel(rm.name, rm.description or "", dict(rm.tags), {a: int(v) for a, v in rm.aliases.items()})
            for rm in self.search_models(names)
        ]

    def registry_models(self, registry_id: str) -> list[HaveModel]:
        found = self.pages(self.registry.search_registered_models, registry_filter(registry_id), 1000)
        return [HaveModel(rm.name, rm.description or "", dict(rm.tags)) for rm in found]

    def versions_of(self, names: list[str]) -> list[tuple[str, HaveVersion]]:
        return [
            (
                mv.name,
                HaveVersion(int(mv.version), mv.run_id or None, mv.source or "", mv.description or "", dict(mv.tags)),
            )
            for mv in self.search_versions(names)
        ]

    def experiment_ids(self) -> list[str]:
        self.load_experiments()
        return [eid for eid, _ in self.experiments.values()]

    def sync_runs(self, experiment_ids: list[str], pattern: str) -> list[HaveRun]:
        return [_have_run(r) for r in self._all_runs(experiment_ids, sync_filter(pattern))]

    def legacy_runs(self, experiment_ids: list[str], scope: list[str], registry_id: str) -> list[HaveRun]:
        return [_have_run(r) for r in self._all_runs(experiment_ids, legacy_filter(scope, registry_id))]

    def runs_by_id(self, experiment_ids: list[str], run_ids: list[str]) -> list[HaveRun]:
        return [
            _have_run(r)
            for chunk in chunks(run_ids, IDS_PER_QUERY)
            for r in self._all_runs(experiment_ids, ids_filter(chunk))
        ]

    def get_run(self, run_id: str) -> HaveRun | None:
        from mlflow.exceptions import MlflowException

        try:
            return _have_run(self.client.get_run(run_id))
        except MlflowException as e:
            if e.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                raise
            return None

    def list_files(self, runs: list[HaveRun]) -> None:
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
            for chunk in chunks(names, NAMES_PER_QUERY)
            for rm in self.pages(self.registry.search_registered_models, names_filter(chunk), 1000)
        ]

    def search_versions(self, names: list[str]) -> list:
        return [
            mv
            for chunk in chunks(names, NAMES_PER_QUERY)
            for mv in self.pages(self.registry.search_model_versions, names_filter(chunk), 10000)
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
