"""The library's public face: `Registry` (every operation the CLI offers, as plain methods returning dataclasses),
`fetch` and `load_model`, and what the CLI may use to parse its arguments. Never prints.

The operations live in modules by kind (reads.py, registering.py, edits.py, and the packages they call); each
takes the Workspace first. `Registry` holds a Workspace (it does not inherit one), and `_operation` offers each
such function as a method bound to it, its signature written once: the function's own, minus the workspace.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .core.lifecycle import split_ref
from .core.runmeta import parse_metrics, parse_pairs
from .core.views import ArtifactCheck, Clock, ModelSummary, ModelView, Outcome, VersionView, iso, utc_now
from .errors import MlregError
from .importers import from_folder
from .ops import edits, reads, registering
from .ops.workspace import Workspace

if TYPE_CHECKING:
    from .core.changes import ChangeSet
    from .core.files import RegistryFiles
    from .core.records import Settings
    from .importers.from_mlflow import ImportReport
    from .objects.garbage import GcReport
    from .objects.pulling import PullReport
    from .report import Built
    from .sync import SyncReport

__all__ = [
    "ArtifactCheck",
    "ModelSummary",
    "ModelView",
    "Outcome",
    "Registry",
    "VersionView",
    "fetch",
    "get",
    "iso",
    "load_model",
    "parse_metrics",
    "parse_pairs",
    "split_ref",
    "utc_now",
    "verify_cache",
]

P = ParamSpec("P")
R = TypeVar("R")


def _operation(function: Callable[Concatenate[Workspace, P], R]) -> Callable[Concatenate[Registry, P], R]:
    """`function(ws, ...)` as a method of Registry: called on the registry's workspace, with the function's name,
    docstring and signature (`self` in place of the workspace, so help() and inspect show no `ws`)."""

    @functools.wraps(function)
    def method(self: Registry, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return function(self._ws, *args, **kwargs)

    full = inspect.signature(function)
    params = list(full.parameters.values())
    me = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    method.__signature__ = full.replace(parameters=[me, *params[1:]])  # type: ignore[attr-defined]
    return method


class Registry:
    """A git-native model registry rooted at a repository work tree. Opening it finishes or undoes an
    interrupted write (`recovered` says which)."""

    __slots__ = ("_ws",)

    def __init__(self, root: Path | str, clock: Clock = utc_now, *, allow_detached: bool = False) -> None:
        self._ws = Workspace(root, clock=clock, allow_detached=allow_detached)

    @property
    def allow_detached(self) -> bool:
        """Whether writes may commit on a detached HEAD (refused unless asked: `--allow-detached`)."""
        return self._ws.allow_detached

    @allow_detached.setter
    def allow_detached(self, value: bool) -> None:
        self._ws.allow_detached = value

    @classmethod
    def open(cls, path: Path | str | None = None, clock: Clock = utc_now, for_init: bool = False) -> Registry:
        """The registry `path` (default: the current folder) is in: the nearest folder upward holding
        mlreg.yaml within the git work tree, else the work tree's root (`for_init`: where `init` may write one)."""
        from .core.repo import locate

        return cls(locate(path, for_init=for_init).root, clock=clock)

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    @property
    def root(self) -> Path:
        """The folder holding mlreg.yaml and registry/ (a git work tree or a folder in one)."""
        return self._ws.root

    @property
    def settings(self) -> Settings:
        """mlreg.yaml, read once (the lifecycle, the object store, the MLflow tracking URI)."""
        return self._ws.settings

    @property
    def files(self) -> RegistryFiles:
        """The reader of the registry's files (registry/NAME/model.yaml and its versions), not the object store."""
        return self._ws.files

    @property
    def store(self) -> RegistryFiles:
        """Deprecated name of `files` ("store" is the object store everywhere else)."""
        return self._ws.files

    @property
    def recovered(self) -> list[str]:
        """What opening the registry did about an interrupted write (finished or undone), one line each."""
        return self._ws.recovered

    @property
    def _settings(self) -> Settings | None:  # tests reset the cached mlreg.yaml after editing it
        return self._ws._settings

    @_settings.setter
    def _settings(self, value: Settings | None) -> None:
        self._ws._settings = value

    # -- reads (reads.py) --------------------------------------------------------------------
    models = _operation(reads.models)
    versions = _operation(reads.versions)
    resolve_number = _operation(reads.resolve_number)
    get = _operation(reads.get)
    show = _operation(reads.show)
    history = _operation(reads.history)
    find_latest = _operation(reads.find_latest)
    find_best = _operation(reads.find_best)
    find_by_stage = _operation(reads.find_by_stage)
    search = _operation(reads.search)
    resolve = _operation(reads.resolve)
    validate = _operation(reads.validate)
    verify = _operation(reads.verify)

    # -- writes (registering.py, edits.py) -----------------------------------------------------
    init = _operation(edits.init)
    register = _operation(registering.register)
    import_dir = _operation(from_folder.import_dir)
    promote = _operation(edits.promote)
    rollback = _operation(edits.rollback)
    alias_set = _operation(edits.alias_set)
    alias_rm = _operation(edits.alias_rm)
    describe = _operation(edits.describe)
    tag_set = _operation(edits.tag_set)

    def tag_rm(
        self, name: str, ref: str | None, key: str, *, commit: bool = True, branch: str | None = None
    ) -> Outcome:
        """Remove a human tag from a model (ref None) or a version; NotFound when it has no such tag.
        (`tag_set(name, ref, key, None)` does the same.)"""
        return edits.tag_set(self._ws, name, ref, key, None, commit=commit, branch=branch)

    def import_mlflow(
        self,
        tracking_uri: str | None = None,
        models: list[str] | None = None,
        *,
        external: bool = False,
        dry_run: bool = False,
        commit: bool = True,
        branch: str | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> ImportReport:
        """Import MLflow's registered models and versions (MLflow's numbers kept) in one commit.

        Reads MLflow only (never writes to it).
        """
        from .importers import from_mlflow as importing

        ws = self._ws
        with ws.writing(commit, branch, dry_run):
            now, by = ws.stamp()
            with importing.prepare(
                ws, tracking_uri, models, external=external, fetch=not dry_run, at=now, by=by, progress=progress
            ) as prepared:
                change = prepared.change
                if change.files:
                    ws.byte_exact(change.files)
                if dry_run or not change.files:
                    done = Outcome("import", change.model, None, sorted(change.files))
                else:
                    done = ws.apply(change, commit, branch)
        return prepared.report(done, dry_run)

    # -- object storage ----------------------------------------------------------------------
    def pull(
        self, ref: str, dest: Path | str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> PullReport:
        """Download a version's stored files into the local cache (sha256 checked) and place them in `dest`
        (default: the cache's folder for the version)."""
        from .core.query import split_model_uri
        from .objects.pulling import pull_record

        name, vref = split_model_uri(ref)
        view = self.get(name, vref)
        return pull_record(view.record, view.folder, Path(dest) if dest is not None else None, progress)

    def gc(self, dry_run: bool = False, grace: float | str = 7 * 24 * 3600.0) -> GcReport:
        """Fetch every remote, then mark the objects of this registry's namespace in the store that no record of any
        ref, stash, work tree or index names, and delete those a run at least `grace` (seconds, or `7d`, `12h`)
        earlier marked."""
        from .objects.garbage import gc

        return gc(self.root, self.settings.store, dry_run, grace)

    # -- pull-request review (gate.py) -------------------------------------------------------
    def diff(self, base: str | None = None, head: str | None = None) -> ChangeSet:
        """The registry change HEAD (default: the working tree) makes when merged into BASE (default: the
        default branch); over a stretch of one branch's history, each first-parent step in turn."""
        from .ops.gate import compare

        return compare(self.root, base, head)

    def validate_change(self, base: str, head: str | None = None) -> list[str]:
        """Every problem of HEAD (a ref, or the working tree) merged into BASE's tip, by BASE's rules."""
        from .ops.gate import validate

        return validate(self.root, base, head)

    # -- report ----------------------------------------------------------------------------
    def report(
        self,
        out: Path | str = "site",
        models: list[str] | None = None,
        at: str = "HEAD",
        *,
        jobs: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Built:
        """Write the static site of the registry at git ref `at` into `out`."""
        from .report import build

        return build(self.root, Path(out), models, at, jobs=jobs, progress=progress)

    # -- MLflow ----------------------------------------------------------------------------
    def sync(
        self,
        tracking_uri: str | None = None,
        *,
        model: str | None = None,
        dry_run: bool = False,
        check: bool = False,
        prune: bool = False,
        force: bool = False,
        artifacts: bool = False,
        progress: Callable[[str, int], None] | None = None,
        repair: bool = False,
        allow_unmerged: bool = False,
        wait: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> SyncReport:
        """Mirror the registry into MLflow (check / dry_run only compare); `repair` re-creates models whose
        version numbers an interrupted sync burnt, `allow_unmerged` syncs a commit the default branch lacks."""
        from .sync import run_sync

        return run_sync(
            self,
            tracking_uri=tracking_uri,
            model=model,
            dry_run=dry_run,
            check=check,
            prune=prune,
            force=force,
            artifacts=artifacts,
            progress=progress,
            repair=repair,
            allow_unmerged=allow_unmerged,
            wait=wait,
            on_wait=on_wait,
        )

    def ui(self, port: int, on_ready: Callable[[str], None]) -> None:
        """Serve MLflow's UI over the local store in .mlreg/ on 127.0.0.1:`port` until interrupted."""
        from .sync import serve_ui

        serve_ui(self.root, port, on_ready)


def fetch(
    url: str,
    ref: str,
    dest: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    rev: str | None = None,
) -> PullReport:
    """`mlreg get`: read one model's records from the remote git registry `url` (a partial, sparse checkout of
    registry/NAME only, at branch or tag `rev`) and pull the version `ref` (NAME@REF) names into `dest`
    (default ./NAME-vN). Named apart from `Registry.get`, which reads a version of a local registry."""
    import tempfile

    from .core.files import REGISTRY_DIR, check_name
    from .core.query import split_model_uri
    from .objects.pulling import pull_record
    from .storage import gitops

    name, vref = split_model_uri(ref)
    check_name(name)
    with tempfile.TemporaryDirectory(prefix="mlreg-get-") as tmp:
        checkout = Path(tmp) / "registry-repo"
        gitops.sparse_checkout(url, f"{REGISTRY_DIR}/{name}", checkout, rev)
        reg = Registry(checkout)
        if not reg.files.has_model(name):
            raise MlregError(f"{url}: no model {name!r} in {REGISTRY_DIR}/")
        view = reg.get(name, vref)
        target = dest if dest is not None else Path.cwd() / f"{name}-v{view.record.version}"
        return pull_record(view.record, view.folder, target, progress)


def verify_cache() -> list:
    """`mlreg verify --cache`: hash every file of the local cache; what does not match is removed (the next pull
    downloads or copies it again). Returns filecache.CacheCheck rows."""
    from .objects.filecache import FileCache

    return FileCache().verify()


def get(
    url: str,
    ref: str,
    dest: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    rev: str | None = None,
) -> PullReport:
    """Deprecated: `fetch` (this name read as `Registry.get`, a local read)."""
    warnings.warn("mlreg.api.get(url, ref) is deprecated: use mlreg.fetch(url, ref)", DeprecationWarning, stacklevel=2)
    return fetch(url, ref, dest, progress, rev)


def load_model(uri: str, repo: Path | str | None = None) -> Any:
    """Load an MLflow-format model named by `uri` with mlflow.pyfunc; otherwise return its path.

    For a version without an `MLmodel` file the path is `params.external_model_path` when recorded
    (models registered with --external), else the version folder (for a store-backed version: the local folder
    its files were pulled into, on demand).
    """
    from .core.query import mlflow_model_location
    from .extras import require

    res = Registry.open(repo).resolve(uri)
    where = mlflow_model_location(res)
    if where is None:
        external = res.record.params.get("external_model_path")
        return Path(external) if external else (res.files_dir or res.path)
    require("mlflow", f"loading the MLflow model of {res.record.name} v{res.record.version}")
    from .sync.mlflow_io import load_pyfunc  # heavy: only when a model is actually loaded

    return load_pyfunc(where)
