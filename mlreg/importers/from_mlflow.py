"""`mlreg import mlflow`: an MLflow registry read in bulk, planned as version records, its artifacts fetched.

Every MLflow call goes through the adapter (`sync.mlflow_io`), and none of them writes to MLflow; the planning
is `mlflow_plan`. The registry is passed in (root, store, settings), so importers never import the api.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..core.files import REGISTRY_DIR, VERSION_FILE, RegistryFiles, check_name, version_dirname
from ..core.records import Artifact, Settings, Version
from ..errors import MlregError
from ..storage import gitops
from ..sync.mlflow_io import SourceModel
from ..sync.uri import Target, mask, resolve
from .mlflow_plan import ImportPlan, plan_import

Progress = Callable[[str, int], None]
_SUBJECT_NAMES = 5  # model names spelled out in the commit subject


class CommitRecord(Protocol):
    """What writing the change set did (api.Outcome is one): its paths, commit, and the records it wrote."""

    paths: list[str]
    records: list[Version]

    def to_dict(self) -> dict[str, Any]: ...


class Destination(Protocol):
    """The registry an import writes into (api.Registry is one)."""

    @property
    def root(self) -> Path: ...

    @property
    def files(self) -> RegistryFiles: ...

    @property
    def settings(self) -> Settings: ...


@dataclass
class ImportReport:
    """What `import mlflow` did (or, in a dry run, would do)."""

    tracking_uri: str  # masked
    uri_source: str
    dry_run: bool
    outcome: CommitRecord  # the caller's record of the commit
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[Version]:
        return self.outcome.records

    def to_dict(self) -> dict[str, Any]:
        versions = [
            {
                "model": r.name,
                "version": r.version,
                "stage": r.stage,
                "mlflow_run_id": r.run.mlflow_run_id,
                "artifacts": len(r.artifacts),
            }
            for r in self.records
        ]
        return self.outcome.to_dict() | {
            "tracking_uri": self.tracking_uri,
            "uri_source": self.uri_source,
            "dry_run": self.dry_run,
            "versions": versions,
            "notes": self.notes,
        }


@dataclass
class Prepared:
    """A planned import with its files fetched (they live until the context closes) and its change set."""

    target: Target
    plan: ImportPlan
    change: gitops.WriteSet

    def report(self, outcome: CommitRecord, dry_run: bool) -> ImportReport:
        outcome.records = self.plan.records
        return ImportReport(self.target.shown, self.target.source, dry_run, outcome, self.plan.notes)


@contextmanager
def prepare(
    reg: Destination,
    tracking_uri: str | None,
    names: list[str] | None,
    *,
    external: bool,
    fetch: bool,
    at: str,
    by: str,
    progress: Progress | None = None,
) -> Iterator[Prepared]:
    """Read MLflow, plan the import against the registry, fetch artifacts (unless not `fetch`): nothing written."""
    from ..extras import require

    require("mlflow", "`mlreg import mlflow`")
    from ..sync import mlflow_io

    names = [check_name(n, "--model name") for n in dict.fromkeys(names or [])] or None
    target = source_target(reg.root, tracking_uri, reg.settings.tracking_uri)
    with tempfile.TemporaryDirectory(prefix="mlreg-import-") as tmp:
        with _connected(target) as io:  # closed before the caller writes: its errors are not MLflow's
            sources = mlflow_io.read_models(io, names)
            _check_sources(sources, names, target)  # before names go into MLflow filter strings
            mlflow_io.read_versions(io, sources)
            plan = plan_import(sources, reg.files, reg.settings, at, by, target.shown)
            files = (
                fetch_artifacts(
                    io,
                    plan,
                    Path(tmp),
                    external,
                    progress or (lambda label, total: None),
                    None if external else _namespace(reg),
                )
                if fetch
                else {}
            )
        yield Prepared(target, plan, change_set(plan, reg.files, files, target.shown))


def source_target(root: Path, tracking_uri: str | None, settings_uri: str | None) -> Target:
    """`--tracking-uri`, else MLFLOW_TRACKING_URI, else mlreg.yaml; an sqlite store must already exist."""
    target = resolve(root, tracking_uri, settings_uri)
    db = Path(target.uri[len("sqlite:///") :]) if target.uri.startswith("sqlite:///") else None
    if target.embedded and (db is None or not db.is_file()):
        raise MlregError(
            "no MLflow to import from: pass --tracking-uri URI (or set MLFLOW_TRACKING_URI, or "
            "mlflow.tracking_uri in mlreg.yaml)"
        )
    if db is not None and not db.is_file():
        raise MlregError(f"{target.shown}: no MLflow database at {db}; expected an existing sqlite file")
    return target


@contextmanager
def _connected(target: Target) -> Iterator[Any]:
    """MLflow's quiet, bounded-retry session; its `rerun mlreg sync` advice reworded for import."""
    from ..sync import mlflow_io

    try:
        with mlflow_io.session(target):
            yield mlflow_io.MlflowIO(target)
    except MlregError as e:
        text = str(e)
        if text.startswith("cannot reach MLflow") and "; check the tracking URI" in text:
            text = text.split("; check the tracking URI")[0] + (
                "; check the tracking URI and that the server is running, then rerun `mlreg import mlflow`"
            )
            raise MlregError(text) from None
        raise


def _check_sources(sources: list[SourceModel], names: list[str] | None, target: Target) -> None:
    """Every --model exists in MLflow; every name fits the registry's naming rule."""
    missing = sorted(set(names or []) - {s.name for s in sources})
    if missing:
        raise MlregError(
            f"MLflow at {target.shown} has no registered model named {', '.join(repr(m) for m in missing)}"
        )
    bad = [s.name for s in sources if not _valid_name(s.name)]
    if bad:
        raise MlregError(
            f"MLflow registered model name(s) {', '.join(repr(b) for b in bad)}: not usable as registry "
            "names (expected 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit); "
            "rename them in MLflow, or import the others with --model NAME"
        )


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except MlregError:
        return False
    return True


# -- fetching and the change set ---------------------------------------------------------------------
def fetch_artifacts(
    io: Any, plan: ImportPlan, tmp: Path, external: bool, progress: Progress, store: str | None = None
) -> dict[str, Any]:
    """Download each version's files: kept under `tmp` for the commit, or (external) hashed and discarded. With an
    object `store`, files already in S3 stay there (recorded by URI) and the others are uploaded to the store."""
    from ..sync import mlflow_io

    files: dict[str, Any] = {}
    for i, (r, sv) in enumerate(plan.versions):
        progress(f"{r.name} v{r.version}", len(plan.versions))
        location, local = mlflow_io.download_version(io, r.name, r.version, sv.source, tmp / str(i))
        pairs = _local_files(local)
        if store and pairs and local is not None:  # pairs: local is a file or folder
            r.artifacts = _store_backed(r, location, local, pairs, store)
            continue
        if not external and any(rel == VERSION_FILE for rel, _ in pairs):  # the record's own name is taken
            pairs = [(f"model/{rel}", p) for rel, p in pairs]
        vdir = f"{REGISTRY_DIR}/{r.name}/{version_dirname(r.version)}"
        for rel, path in pairs:
            r.artifacts.append(
                _artifact(path, rel, location if local and local.is_file() else None, location, external)
            )
            if not external:
                files[f"{vdir}/{rel}"] = path
        if external:
            shutil.rmtree(tmp / str(i), ignore_errors=True)
        if not pairs:
            plan.notes.append(f"{r.name} v{r.version}: no files at {mask(location)}")
    return files


def _namespace(reg: Destination) -> str | None:
    from ..objects.uploads import registry_store

    return registry_store(reg.root, reg.settings.store)


def _store_backed(r: Version, location: str, local: Path, pairs: list[tuple[str, Path]], store: str) -> list[Artifact]:
    """Stored artifacts of one imported version: an S3 location is kept where it is (the download only hashed it);
    files from anywhere else go to `<store>/<model>/v<N>/`."""
    from ..objects.stores import file_digests
    from ..objects.uploads import upload_version, version_uri

    if location.startswith("s3://"):
        base = location.rstrip("/")
        if local.is_file():  # the source names one file
            base = base.rsplit("/", 1)[0]
        return [
            Artifact(sha256=(d := file_digests(path, False))[1], size=d[0], path=rel, uri=f"{base}/{rel}")
            for rel, path in pairs
        ]
    folder = local if local.is_dir() else local.parent
    return upload_version([p for _, p in pairs], folder, version_uri(store, r.name, r.version))


def _local_files(local: Path | None) -> list[tuple[str, Path]]:
    if local is None:
        return []
    if local.is_file():
        return [(local.name, local)]
    if not local.is_dir():
        return []
    found = (p for p in local.rglob("*") if p.is_file() and not p.is_symlink())
    return sorted(((p.relative_to(local).as_posix(), p) for p in found), key=lambda rp: rp[0])


def _artifact(path: Path, rel: str, file_uri: str | None, location: str, external: bool) -> Artifact:
    from ..core.runmeta import digest

    size, sha = path.stat().st_size, digest(path)
    if not external:
        return Artifact(sha256=sha, size=size, path=rel)
    return Artifact(sha256=sha, size=size, uri=file_uri or f"{location.rstrip('/')}/{rel}")


def change_set(plan: ImportPlan, store: RegistryFiles, files: dict[str, Any], shown: str) -> gitops.WriteSet:
    """One commit: every new version folder whole, plus the model.yaml files."""
    files = dict(files)
    folders = []
    for r in plan.records:
        files.update([store.version_file(r)])
        folders.append(f"{REGISTRY_DIR}/{r.name}/{version_dirname(r.version)}")
    for m in plan.models:
        files.update([store.model_file(m)])
    new = {m.name for m in plan.models if not store.has_model(m.name)}
    names = sorted({r.name for r in plan.records} | new)
    shown_names = ", ".join(names[:_SUBJECT_NAMES]) + (
        f" and {len(names) - _SUBJECT_NAMES} more" if len(names) > _SUBJECT_NAMES else ""
    )
    subject = f"import {len(plan.records)} version(s) of {shown_names} from MLflow"
    lines = [f"From MLflow {shown}."]
    lines += [
        f"{r.name} v{r.version} <- MLflow model version {r.version}"
        + (f" (run {r.run.mlflow_run_id})" if r.run.mlflow_run_id else "")
        for r in plan.records
    ]
    body = "\n".join(lines + plan.notes)
    return gitops.WriteSet("import", names[0] if len(names) == 1 else "", None, subject, files, folders, body=body)
