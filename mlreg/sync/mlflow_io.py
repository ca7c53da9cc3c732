"""The only module that imports mlflow: read MLflow's state in bulk, then apply a plan to it."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import MlregError
from .desired import COMMIT, DIGEST, EXTERNAL_FILE, REGISTRY, TAG_MODEL, TAG_VERSION, WantModel, linked_tags
from .plan import PLACEHOLDER, Actual, HaveModel, HaveRun, HaveVersion, ModelPlan, Plan, RunOp, VersionOp
from .uri import Target, driver_hint, scrub

# Bounded retries so an unreachable or hung server (or the S3 behind it) fails within 30 s, not MLflow's default
# ~4 minutes: two tries of 10 s, a 1 s pause, then the diagnosis probes (5 s at most). The user's own settings win.
ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
_QUIET_LOGGERS = ("mlflow", "alembic", "urllib3", "sqlalchemy", "azure", "botocore")
_NAMES_PER_QUERY = 100  # model names per `name IN (...)` filter (keeps GET URLs short)
_IDS_PER_QUERY = 100  # run ids per `run_id IN (...)` filter
_MAX_PARAMS, _MAX_METRICS = 100, 1000  # MLflow's log_batch limits
Progress = Callable[[str], None]


@contextmanager
def session(target: Target) -> Iterator[None]:
    """Bounded retries, MLflow's logging and warnings silenced, and MLflow errors as one-line MlregErrors."""
    import mlflow  # noqa: F401  (its import configures its loggers; quiet them after that)

    saved_env = {k: os.environ.get(k) for k in ENV_DEFAULTS}
    for k, v in ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)
    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    disabled = logging.root.manager.disable
    _bound_s3_client()
    logging.disable(logging.WARNING)  # also loggers MLflow/alembic configure themselves (database set-up INFO lines)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except MlregError:
        raise
    except ModuleNotFoundError as e:
        raise MlregError(driver_hint(target, e.name or str(e))) from None
    except Exception as e:
        if not _is_backend_error(e):
            raise
        raise to_error(e, target) from None
    finally:
        _restore_env(saved_env)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.disable(disabled)


def _restore_env(saved: dict[str, str | None]) -> None:
    """Put environment variables back as they were (unset where they were unset)."""
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _bound_s3_client() -> None:
    """Direct S3 access (a server with --no-serve-artifacts) goes through boto3 in this process: give the clients
    MLflow makes short timeouts and two attempts (botocore's defaults wait minutes on a hung store). MLflow's own
    client config is merged over this default, and the user's AWS_MAX_ATTEMPTS wins."""
    try:
        import boto3
        import botocore.session
        from botocore.config import Config
    except ImportError:
        return
    if boto3.DEFAULT_SESSION is not None:  # a session someone set up: theirs
        return
    retries = None if os.environ.get("AWS_MAX_ATTEMPTS") else {"total_max_attempts": 2, "mode": "standard"}
    core = botocore.session.get_session()
    core.set_default_client_config(Config(connect_timeout=5, read_timeout=10, retries=retries))
    boto3.setup_default_session(botocore_session=core)


def _is_backend_error(e: Exception) -> bool:
    import requests
    from mlflow.exceptions import MlflowException

    kinds: tuple[type, ...] = (MlflowException, requests.RequestException, OSError)
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        kinds += (BotoCoreError, ClientError)
    except ImportError:
        pass
    return isinstance(e, kinds)


def to_error(e: Exception, target: Target) -> MlregError:
    """A one-line message naming the (masked) server and which part failed: the server itself, its database,
    its artifact store (S3 directly too), or the credentials."""
    from . import diagnose

    text = scrub(" ".join(str(e).split()), target.uri)
    s3 = diagnose.s3_problem(e)
    if s3:
        return MlregError(f"MLflow at {target.shown}: {scrub(s3, target.uri)}; then rerun `mlreg sync`")
    if target.uri.lower().startswith(("http://", "https://")):
        found = diagnose.explain(target.uri, target.shown, text, getattr(e, "error_code", None))
        if found:
            return MlregError(scrub(found, target.uri))
    elif diagnose.is_network_failure(text):
        return MlregError(f"cannot reach MLflow at {target.shown} ({diagnose.network_reason(text)}); check the "
                          "tracking URI, then rerun `mlreg sync` (it picks up where it stopped)")
    if "filesystem tracking backend" in text:
        return MlregError(f"MLflow at {target.shown}: MLflow's file store is in maintenance mode and lacks features "
                          "sync needs; use a database instead, e.g. --tracking-uri sqlite:///mlflow.db (MLflow's "
                          "`mlflow migrate-filestore` moves existing data)")
    return MlregError(f"MLflow at {target.shown}: {_first_sentences(text)}")


def _first_sentences(text: str, limit: int = 300) -> str:
    """The message cut at a sentence end within `limit` characters (whole text when short)."""
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[:cut + 1] if cut > 0 else text[:limit].rsplit(" ", 1)[0] + " ..."


class MlflowIO:
    """One tracking server (or the embedded store): bulk reads and the writes of a plan."""

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

    # -- reads -----------------------------------------------------------------------------
    def read(self, wants: list[WantModel], also: list[str], registry_id: str = "", *, whole: bool = False,
             artifacts: bool = False) -> Actual:
        """Registered models, versions, experiments and this registry's runs: a few calls in all, not per version.
        Runs are searched by the registry's id, so the cost stays flat whatever else the server holds."""
        scope = [w.name for w in wants]
        actual = Actual()
        for rm in self._search_models(scope + [n for n in also if n not in scope]):
            actual.models[rm.name] = HaveModel(rm.name, rm.description or "", dict(rm.tags),
                                               {a: int(v) for a, v in rm.aliases.items()})
        if whole and registry_id:  # this registry's models that git no longer has (one query)
            for rm in self._pages(self.registry.search_registered_models, f"tags.`{REGISTRY}` = '{registry_id}'", 1000):
                if rm.name not in actual.models:
                    actual.orphans[rm.name] = HaveModel(rm.name, rm.description or "", dict(rm.tags))
        for mv in self._search_versions(list(actual.models) + list(actual.orphans)):
            hv = HaveVersion(int(mv.version), mv.run_id or None, mv.source or "", mv.description or "", dict(mv.tags))
            (actual.models.get(mv.name) or actual.orphans[mv.name]).versions[hv.number] = hv
        self._load_experiments()
        ids = sorted({eid for eid, _ in self.experiments.values()})  # all: runs in experiments git no longer uses
        runs = self._search_runs(ids, scope + list(actual.orphans), registry_id)
        if registry_id:  # runs made before registries had ids: the ones this registry's versions use
            seen = {r.info.run_id for r in runs}
            older = sorted({hv.run_id for n in scope if n in actual.models for hv in actual.models[n].versions.values()
                            if hv.owned and hv.run_id and hv.run_id not in seen})
            runs += [r for r in self._runs_by_id(ids, older) if not r.data.tags.get(REGISTRY)]
        for run in runs:
            model, number = run.data.tags.get(TAG_MODEL), run.data.tags.get(TAG_VERSION, "")
            if model in actual.orphans and number.isdigit():
                actual.orphans[model].runs.setdefault(int(number), []).append(_have_run(run))
            elif model in scope and number.isdigit():
                have = actual.models.setdefault(model, HaveModel(model, "", exists=False))
                have.runs.setdefault(int(number), []).append(_have_run(run))
        self._read_training_runs(wants, actual)
        if artifacts:
            self._list_files([r for m in actual.models.values() for rs in m.runs.values() for r in rs if r.complete])
        return actual

    def _list_files(self, runs: list[HaveRun]) -> None:
        """What the artifact store holds for each run (path -> size): one listing per folder, a few at a time."""
        def walk(run: HaveRun) -> None:
            files, folders = {}, [None]
            while folders:
                for f in self.client.list_artifacts(run.run_id, folders.pop()):
                    if f.is_dir:
                        folders.append(f.path)
                    else:
                        files[f.path] = f.file_size
            run.files = files

        with ThreadPoolExecutor(max_workers=max(self.workers, 4), thread_name_prefix="mlreg-list") as pool:
            list(pool.map(walk, runs))

    def _search_models(self, names: list[str]) -> list:
        return [rm for chunk in _chunks(names, _NAMES_PER_QUERY)
                for rm in self._pages(self.registry.search_registered_models, _name_in(chunk), 1000)]

    def _search_versions(self, names: list[str]) -> list:
        return [mv for chunk in _chunks(names, _NAMES_PER_QUERY)
                for mv in self._pages(self.registry.search_model_versions, _name_in(chunk), 10000)]

    def _search_runs(self, experiment_ids: list[str], scope: list[str], registry_id: str = "") -> list:
        if not experiment_ids or not scope:
            return []
        where = f"tags.`{TAG_MODEL}` = '{scope[0]}'" if len(scope) == 1 else f"tags.`{TAG_MODEL}` IS NOT NULL"
        if registry_id:
            where += f" AND tags.`{REGISTRY}` = '{registry_id}'"
        return self._all_runs(experiment_ids, where)

    def _runs_by_id(self, experiment_ids: list[str], run_ids: list[str]) -> list:
        return [r for chunk in _chunks(run_ids, _IDS_PER_QUERY)
                for r in self._all_runs(experiment_ids, "attributes.run_id IN (" + ", ".join(f"'{i}'" for i in chunk)
                                        + ")")]

    def _all_runs(self, experiment_ids: list[str], where: str) -> list:
        from mlflow.entities import ViewType

        if not experiment_ids:
            return []
        out, token = [], None
        while True:
            page = self.client.search_runs(experiment_ids, where, ViewType.ALL, 50000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    @staticmethod
    def _pages(search: Callable, where: str, size: int) -> list:
        out, token = [], None
        while True:
            page = search(where, size, None, token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def _load_experiments(self) -> None:
        from mlflow.entities import ViewType

        token = None
        while True:
            page = self.client.search_experiments(ViewType.ALL, 50000, page_token=token)
            for e in page:
                self.experiments[e.name] = (e.experiment_id, e.lifecycle_stage == "deleted")
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

    # -- writes ----------------------------------------------------------------------------
    def apply(self, plan: Plan, progress: Progress, run_ids: dict[tuple[str, int], str]) -> None:
        """Perform every step of the plan: runs in a small thread pool, model versions in order."""
        self.run_ids = dict(run_ids)
        self._ensure_experiments(plan)
        for mp in plan.models:
            self._write_model(mp, progress)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="mlreg-sync")
        try:
            runs = {(op.model, op.number): pool.submit(self._write_run, op, progress)
                    for mp in plan.models for op in mp.runs}
            updates = [pool.submit(self._update_version, op, progress, runs)
                       for mp in plan.models for op in mp.versions if not op.create]
            for mp in plan.models:
                self._create_versions(mp, runs, progress)
            for f in [*runs.values(), *updates]:
                f.result()
            for mp in plan.models:
                self._finish_model(mp, progress)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()

    def _tick(self, progress: Progress, label: str) -> None:
        with self._lock:
            progress(label)

    def _ensure_experiments(self, plan: Plan) -> None:
        for name in sorted({op.want.experiment for mp in plan.models for op in mp.runs}):
            found = self.experiments.get(name)
            if found and found[1]:
                raise MlregError(f"MLflow experiment {name!r} is deleted; restore it in MLflow "
                                 "(or register with another --experiment) and rerun `mlreg sync`")
            if not found:
                location = None
                if self.target.artifacts is not None:
                    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
                    location = (self.target.artifacts / safe).resolve().as_uri()
                self.experiments[name] = (self.client.create_experiment(name, artifact_location=location), False)

    def _write_model(self, mp: ModelPlan, progress: Progress) -> None:
        if mp.create:
            self.registry.create_registered_model(mp.name, mp.set_tags, mp.description or None)
        else:
            if mp.description is not None:
                self.registry.update_registered_model(mp.name, mp.description)
            for k in mp.del_tags:
                self.registry.delete_registered_model_tag(mp.name, k)
            for k, v in _digest_last(mp.set_tags):
                self.registry.set_registered_model_tag(mp.name, k, v)
        if mp.create or mp.description is not None or mp.set_tags or mp.del_tags:
            self._tick(progress, f"model {mp.name}")
        if mp.delete_model:
            self.registry.delete_registered_model(mp.name)
            self._tick(progress, f"prune {mp.name}")

    def _write_run(self, op: RunOp, progress: Progress) -> tuple[str, str]:
        """Create (or resume) the run: tags at creation, params+metrics in batches, files, then FINISHED."""
        from mlflow.entities import Metric, Param, RunStatus, RunTag

        want = op.want
        if op.existing is None:
            run = self.client.create_run(self.experiments[want.experiment][0], want.start_ms,
                                         want.system_tags | want.tags, want.name)
            run_id, artifact_uri = run.info.run_id, run.info.artifact_uri
        else:
            run_id, artifact_uri = op.existing, op.artifact_uri or ""
            if op.restore:
                self.client.restore_run(run_id)
        params = [Param(k, v) for k, v in op.params.items()]
        # an update logs with the current time so that it, not a hand-logged value, is the run's latest
        at = want.start_ms if op.existing is None else int(time.time() * 1000)
        metrics = [Metric(k, v, at, 0) for k, v in op.metrics.items()]
        tags = [RunTag(k, v) for k, v in _digest_last(op.set_tags)]
        for k in op.del_tags:
            self.client.delete_tag(run_id, k)
        for i in range(0, max(len(params), len(metrics), len(tags)), _MAX_PARAMS):
            self.client.log_batch(run_id, metrics[i:i + _MAX_PARAMS], params[i:i + _MAX_PARAMS],
                                  tags[i:i + _MAX_PARAMS])
        if op.finish:
            self._upload(artifact_uri, want.files + self._store_copies(want.stored), want.external)
            self.tracking.store.update_run_info(run_id, RunStatus.FINISHED, want.end_ms or want.start_ms, None)
        elif op.upload:  # files the artifact store lost (--artifacts)
            self._upload(artifact_uri, [f for f in op.upload if f[0] is not None],
                         want.external if any(f[0] is None for f in op.upload) else [])
        self._tick(progress, f"run {op.model}/{op.number}")
        return run_id, artifact_uri

    def _upload(self, artifact_uri: str, files: list[tuple[Path, str]], external: list[dict[str, Any]]) -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repo = get_artifact_repository(artifact_uri, tracking_uri=self.target.uri)
        for local, rel in files:
            if not local.is_file():
                raise MlregError(f"{local}: artifact file missing (run `mlreg verify`)")
            folder = rel.rsplit("/", 1)[0] if "/" in rel else None
            repo.log_artifact(str(local), folder)
        if external:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / EXTERNAL_FILE
                path.write_text(json.dumps({"external_artifacts": external}, indent=2) + "\n")
                repo.log_artifact(str(path))

    def _store_copies(self, stored: list[tuple[str, str]]) -> list[tuple[Path, str]]:
        """Files of a folder store (file://) when MLflow is a server: it refuses local paths as a version's source,
        so they are copied into the run like in-git files. An s3:// store is never copied."""
        from ..objstore import ObjectStore

        return [(Path(ObjectStore.path(uri)), rel) for uri, rel in stored
                if uri.startswith("file://") and not self.local]

    def _create_versions(self, mp: ModelPlan, runs: dict[tuple[str, int], Future], progress: Progress) -> None:
        """New model versions strictly in order, each after its run is complete, tags set at creation."""
        for op in mp.versions:
            if not op.create:
                continue
            if op.run_id is None:
                op.run_id, op.artifact_uri = runs[(op.model, op.number)].result()
            for _ in range(op.placeholders):
                burn = self.registry.create_model_version(mp.name, op.artifact_uri, op.run_id, {PLACEHOLDER: "true"},
                                                          await_creation_for=0)
                self.registry.delete_model_version(mp.name, burn.version)
            self._create_version(op, runs)
            self.run_ids[(op.model, op.number)] = op.run_id
            self._tick(progress, f"version {op.model}/{op.number}")

    def _create_version(self, op: VersionOp, runs: dict) -> None:
        tags = dict(op.want.tags) | self._linked(op, runs)
        source = op.artifact_uri.rstrip("/") + (f"/{op.want.subpath}" if op.want.subpath else "")
        if op.want.source and not self._store_copies([(op.want.source, "")]):
            source = op.want.source  # store-backed: MLflow reads the files where the registry keeps them
        mv = self.registry.create_model_version(op.model, source, op.run_id, tags, None,
                                                op.want.description or None, await_creation_for=0)
        if int(mv.version) != op.number:
            # MLflow skipped numbers it used before (a deleted version): undo, so numbers stay equal to git's
            self.registry.delete_model_version(op.model, mv.version)
            raise MlregError(f"model version {op.model}/{op.number}: MLflow numbered it {mv.version} (a version "
                             f"{op.number} existed there before and was deleted); mlreg keeps numbers equal to "
                             "git's, so this version cannot be mirrored to this server")

    def _linked(self, op: VersionOp, runs: dict) -> dict[str, str]:
        """base_model_run_id / base_model_path, once the base's run exists."""
        if not op.want.base:
            return {}
        run_id = self.run_ids.get(op.want.base)
        if run_id is None and op.want.base in runs:
            run_id = runs[op.want.base].result()[0]
        return linked_tags(run_id, op.want.base_subpath) if run_id else {}

    def _update_version(self, op: VersionOp, progress: Progress, runs: dict) -> None:
        if op.description is not None:
            self.registry.update_model_version(op.model, str(op.number), op.description)
        for k in op.del_tags:
            self.registry.delete_model_version_tag(op.model, str(op.number), k)
        for k, v in _digest_last(op.set_tags):
            self.registry.set_model_version_tag(op.model, str(op.number), k, v)
        self._tick(progress, f"version {op.model}/{op.number}")

    def _finish_model(self, mp: ModelPlan, progress: Progress) -> None:
        """Aliases, pruning, then the final list of aliases mlreg owns."""
        for alias, n in mp.set_aliases.items():
            self.registry.set_registered_model_alias(mp.name, alias, str(n))
            self._tick(progress, f"alias {mp.name}@{alias}")
        for alias in mp.del_aliases:
            self.registry.delete_registered_model_alias(mp.name, alias)
            self._tick(progress, f"alias {mp.name}@{alias}")
        for n in mp.delete_versions:
            self.registry.delete_model_version(mp.name, str(n))
            self._tick(progress, f"prune {mp.name}/{n}")
        for run_id in mp.delete_runs:
            self.client.delete_run(run_id)
            self._tick(progress, f"prune run {run_id}")
        if mp.final_claim is not None:
            from .desired import ALIASES

            if mp.final_claim:
                self.registry.set_registered_model_tag(mp.name, ALIASES, mp.final_claim)
            else:
                self.registry.delete_registered_model_tag(mp.name, ALIASES)
            self._tick(progress, f"model {mp.name}")



def _digest_last(tags: dict[str, str]) -> list[tuple[str, str]]:
    """Tags in write order: mlreg.digest / mlreg.commit last, so an interrupted update never looks finished."""
    return sorted(tags.items(), key=lambda kv: kv[0] in (DIGEST, COMMIT))


def _have_run(run) -> HaveRun:
    return HaveRun(run.info.run_id, run.info.experiment_id, run.info.status, run.info.lifecycle_stage == "deleted",
                   run.info.artifact_uri, dict(run.data.params), dict(run.data.metrics), dict(run.data.tags))


def _name_in(names: list[str]) -> str:
    return "name IN (" + ", ".join(f"'{n}'" for n in names) + ")"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# -- reads for `mlreg import mlflow` (it never writes to MLflow) -----------------------------------


def read_models(io: MlflowIO, names: list[str] | None) -> list:
    """Registered models (every one, or these) without their versions, sorted by name."""
    from .importing import SourceModel

    found = io._search_models(names) if names else io._pages(io.registry.search_registered_models, "", 1000)
    models = [SourceModel(rm.name, rm.description or "", dict(rm.tags), {a: int(v) for a, v in rm.aliases.items()})
              for rm in found]
    return sorted(models, key=lambda m: m.name)


def read_versions(io: MlflowIO, models: list) -> None:
    """Fill in each model's versions (oldest first) and their runs: a few bulk calls in all, not per version."""
    from .importing import SourceVersion

    by_name = {m.name: m for m in models}
    for mv in io._search_versions(sorted(by_name)):
        by_name[mv.name].versions.append(SourceVersion(
            int(mv.version), mv.description or "", mv.source or "", mv.run_id or None, mv.current_stage or None,
            mv.creation_timestamp, dict(mv.tags)))
    runs = _read_runs(io, sorted({v.run_id for m in models for v in m.versions if v.run_id}))
    for m in models:
        m.versions.sort(key=lambda v: v.number)
        for v in m.versions:
            v.run = runs.get(v.run_id or "")


def _read_runs(io: MlflowIO, run_ids: list[str]) -> dict:
    """run id -> SourceRun, by `run_id IN (...)` searches over every experiment (deleted runs too)."""
    from mlflow.entities import ViewType

    from .importing import SourceRun

    if not run_ids:
        return {}
    io._load_experiments()
    experiments = {eid: name for name, (eid, _) in io.experiments.items()}
    out = {}
    for chunk in _chunks(run_ids, _IDS_PER_QUERY):
        where = "attributes.run_id IN (" + ", ".join(f"'{r}'" for r in chunk) + ")"
        token = None
        while True:
            page = io.client.search_runs(sorted(experiments), where, ViewType.ALL, 50000, page_token=token)
            for r in page:
                out[r.info.run_id] = SourceRun(r.info.run_id, experiments.get(r.info.experiment_id), r.info.run_name,
                                               r.info.start_time, dict(r.data.params), dict(r.data.metrics),
                                               dict(r.data.tags))
            token = page.token
            if not token:
                break
    return out


def download_version(io: MlflowIO, name: str, number: int, source: str, dest: Path) -> tuple[str, Path | None]:
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
            local = Path(download_artifacts(artifact_uri=location, dst_path=str(dest), tracking_uri=io.target.uri,
                                            registry_uri=io.target.uri))
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
        _restore_env(saved)


def load_pyfunc(location: str) -> Any:
    """`mlflow.pyfunc.load_model(location)`: `mlreg.load_model` of an MLflow-format version."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(location)
