"""The writes of a sync plan: runs in a small thread pool, model versions strictly in order."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...errors import MlregError
from ..actual import PLACEHOLDER
from ..desired import ALIASES, EXTERNAL_FILE, SUPERSEDED, SYNC, linked_tags
from ..ops import ModelPlan, RunOp, SyncPlan, VersionOp
from .reads import Reader

_MAX_PARAMS, _MAX_METRICS = 100, 1000  # MLflow's log_batch limits
KIND, TRAINING = "mlflow.experimentKind", "custom_model_development"  # what MLflow 3.x's UI reads
Progress = Callable[[str], None]


class MlflowIO(Reader):
    """One tracking server (or the embedded store): bulk reads (Reader) and the writes of a plan."""

    def apply(self, plan: SyncPlan, progress: Progress, run_ids: dict[tuple[str, int], str]) -> None:
        """Perform every step of the plan: runs in a small thread pool, model versions in order."""
        self.run_ids = dict(run_ids)
        self._ensure_experiments(plan)
        for mp in plan.models:
            self._write_model(mp, progress)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="mlreg-sync")
        try:
            runs = {
                (op.model, op.number): pool.submit(self._write_run, op, progress)
                for mp in plan.models
                for op in mp.runs
            }
            updates = [
                pool.submit(self._update_version, op, progress, runs)
                for mp in plan.models
                for op in mp.versions
                if not op.create
            ]
            for mp in plan.models:
                self._create_versions(mp, runs, progress)
            pending: list[Future[Any]] = [*runs.values(), *updates]
            for f in pending:
                f.result()
            for mp in plan.models:
                self._finish_model(mp, progress)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()

    def lease(self, registry_id: str, wait: float | None, on_wait: Callable[[str], None] | None = None):
        """This registry's sync lease on this server, held for a `with` block (see lease.py)."""
        from . import lease

        told = (lambda h: on_wait(h.describe())) if on_wait else None
        return lease.held(
            self.registry, registry_id, self.target.shown, lease.WAIT if wait is None else wait, on_wait=told
        )

    def rebuild(self, names: list[str], stale_runs: list[str]) -> None:
        """Retire runs synced from another record (their SYNC tag moves to mlreg.superseded, then the run is
        deleted: a run's params cannot change), then delete the registered models `names`, so the plan makes
        them again with every version numbered as git numbers it."""
        for run_id in stale_runs:
            run = self.client.get_run(run_id)
            if SYNC in run.data.tags:
                self.client.set_tag(run_id, SUPERSEDED, run.data.tags[SYNC])
                self.client.delete_tag(run_id, SYNC)
            if run.info.lifecycle_stage != "deleted":
                self.client.delete_run(run_id)
        for name in names:
            self.registry.delete_registered_model(name)

    def check_server(self, wants: list) -> list:
        """What MLflow's records alone do not show: webhooks the server cannot read, and (given `wants`) store
        objects of store-backed versions that are gone."""
        from .health import missing_objects, unreadable_webhooks

        return unreadable_webhooks(self.target) + missing_objects(wants)

    def _tick(self, progress: Progress, label: str) -> None:
        with self._lock:
            progress(label)

    def _ensure_experiments(self, plan: SyncPlan) -> None:
        """Every experiment the plan's runs go to exists, marked as model training for MLflow's UI (3.x opens an
        experiment without `mlflow.experimentKind` in GenAI mode, runs listed as evaluation runs): set where
        the experiment has no kind yet, never over one someone chose."""
        for name in sorted({op.want.experiment for mp in plan.models for op in mp.runs}):
            found = self.experiments.get(name)
            if found and found[1]:
                raise MlregError(
                    f"MLflow experiment {name!r} is deleted; restore it in MLflow "
                    "(or register with another --experiment) and rerun `mlreg sync`"
                )
            if not found:
                location = None
                if self.target.artifacts is not None:
                    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
                    location = (self.target.artifacts / safe).resolve().as_uri()
                self.experiments[name] = (
                    self.client.create_experiment(name, artifact_location=location, tags={KIND: TRAINING}),
                    False,
                )
            elif name in self.kindless:
                self.client.set_experiment_tag(found[0], KIND, TRAINING)
                self.kindless.discard(name)

    def _write_model(self, mp: ModelPlan, progress: Progress) -> None:
        if mp.create:
            self.registry.create_registered_model(mp.name, mp.set_tags, mp.description or None)
        else:
            if mp.description is not None:
                self.registry.update_registered_model(mp.name, mp.description)
            for k in mp.del_tags:
                self.registry.delete_registered_model_tag(mp.name, k)
            for k, v in _sync_last(mp.set_tags):
                self.registry.set_registered_model_tag(mp.name, k, v)
            for k in mp.drop_tags:
                self.registry.delete_registered_model_tag(mp.name, k)
        if mp.create or mp.description is not None or mp.set_tags or mp.del_tags or mp.drop_tags:
            self._tick(progress, f"model {mp.name}")
        if mp.delete_model:
            self.registry.delete_registered_model(mp.name)
            self._tick(progress, f"prune {mp.name}")

    def _write_run(self, op: RunOp, progress: Progress) -> tuple[str, str]:
        """Create (or resume) the run: tags at creation, params+metrics in batches, files, then FINISHED."""
        from mlflow.entities import Metric, Param, RunStatus, RunTag

        want = op.want
        if op.existing is None:
            first_tags = want.system_tags | want.tags | {SYNC: want.marker(want.tags)}
            run = self.client.create_run(self.experiments[want.experiment][0], want.start_ms, first_tags, want.name)
            run_id, artifact_uri = run.info.run_id, run.info.artifact_uri
        else:
            run_id, artifact_uri = op.existing, op.artifact_uri or ""
            if op.restore:
                self.client.restore_run(run_id)
        params = [Param(k, v) for k, v in op.params.items()]
        # an update logs with the current time so that it, not a hand-logged value, is the run's latest
        at = want.start_ms if op.existing is None else int(time.time() * 1000)
        metrics = [Metric(k, v, at, 0) for k, v in op.metrics.items()]
        tags = [RunTag(k, v) for k, v in _sync_last(op.set_tags)]
        for k in op.del_tags:
            self.client.delete_tag(run_id, k)
        for i in range(0, max(len(params), len(metrics), len(tags)), _MAX_PARAMS):
            self.client.log_batch(
                run_id, metrics[i : i + _MAX_PARAMS], params[i : i + _MAX_PARAMS], tags[i : i + _MAX_PARAMS]
            )
        for k in op.drop_tags:
            self.client.delete_tag(run_id, k)
        if op.finish:
            self._upload(artifact_uri, want.files + self._store_copies(want.stored), want.external, op)
            self.tracking.store.update_run_info(run_id, RunStatus.FINISHED, want.end_ms or want.start_ms, None)
        elif op.upload:  # files the artifact store lost (--artifacts)
            self._upload(
                artifact_uri,
                [f for f in op.upload if f[0] is not None],
                want.external if any(f[0] is None for f in op.upload) else [],
                op,
            )
        self._tick(progress, f"run {op.model}/{op.number}")
        return run_id, artifact_uri

    def _upload(
        self, artifact_uri: str, files: list[tuple[Path, str]], external: list[dict[str, Any]], op: RunOp
    ) -> None:
        """Upload the files whose bytes are the record's (see `proven`), and mlreg_external.json."""
        from mlflow.store.artifact.artifact_repository_registry import (
            get_artifact_repository,
        )

        repo = get_artifact_repository(artifact_uri, tracking_uri=self.target.uri)
        for local, rel in files:
            if not os.path.lexists(local):
                raise MlregError(f"{local}: artifact file missing (run `mlreg verify`)")
            size, sha = op.want.expect.get(rel, (-1, ""))
            why = proven(local, size, sha)
            if why:
                with self._lock:
                    self.warnings.append(f"{op.model}/{op.number}: artifact {rel!r} not uploaded: {local} {why}")
                continue
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
        from ...objects.stores import ObjectStore

        return [
            (Path(ObjectStore.path(uri)), rel) for uri, rel in stored if uri.startswith("file://") and not self.local
        ]

    def _create_versions(self, mp: ModelPlan, runs: dict[tuple[str, int], Future], progress: Progress) -> None:
        """New model versions strictly in order, each after its run is complete, tags set at creation."""
        for op in mp.versions:
            if not op.create:
                continue
            if op.run_id is None:
                op.run_id, op.artifact_uri = runs[(op.model, op.number)].result()
            for _ in range(op.placeholders):
                burn = self.registry.create_model_version(
                    mp.name, op.artifact_uri, op.run_id, {PLACEHOLDER: "true"}, await_creation_for=0
                )
                self.registry.delete_model_version(mp.name, burn.version)
            self._create_version(op, runs)
            self.run_ids[(op.model, op.number)] = op.run_id
            self._tick(progress, f"version {op.model}/{op.number}")

    def _create_version(self, op: VersionOp, runs: dict) -> None:
        tags = dict(op.want.tags) | self._linked(op, runs)
        tags[SYNC] = op.want.marker(tags)
        assert op.artifact_uri is not None  # set with run_id: by the plan, or from its RunOp's result
        source = op.artifact_uri.rstrip("/") + (f"/{op.want.subpath}" if op.want.subpath else "")
        if op.want.source and not self._store_copies([(op.want.source, "")]):
            source = op.want.source  # store-backed: MLflow reads the files where the registry keeps them
        mv = self.registry.create_model_version(
            op.model, source, op.run_id, tags, None, op.want.description or None, await_creation_for=0
        )
        if int(mv.version) != op.number:
            # MLflow skipped numbers it used before (a deleted version): undo, so numbers stay equal to git's
            self.registry.delete_model_version(op.model, mv.version)
            raise MlregError(
                f"model version {op.model}/{op.number}: MLflow numbered it {mv.version} (a version "
                f"{op.number} existed there before and was deleted); mlreg keeps numbers equal to "
                f"git's: `mlreg sync --repair --model {op.model}` re-creates the registered model "
                "(its runs stay) so that MLflow numbers its versions as git does"
            )

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
        for k, v in _sync_last(op.set_tags):
            self.registry.set_model_version_tag(op.model, str(op.number), k, v)
        for k in op.drop_tags:  # an older sync's bookkeeping, once SYNC stands in for it
            self.registry.delete_model_version_tag(op.model, str(op.number), k)
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
            if mp.final_claim:
                self.registry.set_registered_model_tag(mp.name, ALIASES, mp.final_claim)
            else:
                self.registry.delete_registered_model_tag(mp.name, ALIASES)
            self._tick(progress, f"model {mp.name}")


def proven(local: Path, size: int, sha256: str) -> str | None:
    """None when `local` is a regular file holding exactly the recorded bytes (size and sha256), else why not.
    Sync reads a file for upload only then: a record that merely names a file (/proc/self/environ, a FIFO, a
    device, a secret on the runner with a guessed size) never gets it uploaded."""
    import hashlib
    import stat

    from ..desired import plain_file

    if not plain_file(local, size):
        return "is not a regular file of the recorded size"
    try:
        fd = os.open(local, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    h, seen = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return "is not a regular file"
        while seen <= size and (block := f.read(1 << 20)):
            h.update(block)
            seen += len(block)
    if seen != size or h.hexdigest() != sha256:
        return "does not match the recorded sha256"
    return None


def _sync_last(tags: dict[str, str]) -> list[tuple[str, str]]:
    """Tags in write order: SYNC (with the digest) last, so an interrupted update never looks finished."""
    return sorted(tags.items(), key=lambda kv: kv[0] == SYNC)
