"""The library's public face: `Registry` (every operation the CLI offers, as plain methods returning dataclasses),
`get` and `load_model`, and what the CLI may use to parse its arguments. Never prints.

The operations live in modules by kind (reads.py, registering.py, edits.py, and the packages they call); each
takes the Workspace first, so the class offers it as a method with one signature, written once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import edits, reads, registering
from .errors import MlregError
from .lifecycle import split_ref
from .runmeta import parse_metrics, parse_pairs
from .store import SETTINGS_FILE
from .views import ArtifactCheck, Clock, ModelSummary, ModelView, Outcome, VersionView, iso, utc_now
from .workspace import Workspace

if TYPE_CHECKING:
    from .pulling import PullReport

__all__ = ["ArtifactCheck", "ModelSummary", "ModelView", "Outcome", "Registry", "VersionView", "get", "iso",
           "load_model", "parse_metrics", "parse_pairs", "split_ref", "utc_now", "verify_cache"]


class Registry(Workspace):
    """A git-native model registry rooted at a repository work tree."""

    @classmethod
    def open(cls, path: Path | str | None = None, clock: Clock = utc_now, for_init: bool = False) -> Registry:
        """The registry `path` (default: the current folder) is in: the nearest folder upward holding
        mlreg.yaml within the git work tree, else the work tree's root (`for_init`: where `init` may write one)."""
        from .repo import locate

        return cls(locate(path, for_init=for_init).root, clock=clock)

    # -- reads (reads.py) --------------------------------------------------------------------
    models = reads.models
    versions = reads.versions
    resolve_number = reads.resolve_number
    get = reads.get
    show = reads.show
    history = reads.history
    find_latest = reads.find_latest
    find_best = reads.find_best
    find_by_stage = reads.find_by_stage
    search = reads.search
    resolve = reads.resolve
    validate = reads.validate
    verify = reads.verify

    # -- writes (registering.py, edits.py) -----------------------------------------------------
    init = edits.init
    register = registering.register
    import_dir = registering.import_dir
    promote = edits.promote
    rollback = edits.rollback
    alias_set = edits.alias_set
    alias_rm = edits.alias_rm
    describe = edits.describe
    tag_set = edits.tag_set

    def import_mlflow(self, tracking_uri: str | None = None, models: list[str] | None = None, *,
                      external: bool = False, dry_run: bool = False, commit: bool = True, branch: str | None = None,
                      progress: Callable[[str, int], None] | None = None):
        """Import MLflow's registered models and versions (MLflow's numbers kept) in one commit.

        Reads MLflow only (never writes to it); returns a importers.from_mlflow.ImportReport.
        """
        from .importers import from_mlflow as importing

        with self.writing(commit, branch, dry_run):
            now, by = self.stamp()
            with importing.prepare(self, tracking_uri, models, external=external, fetch=not dry_run, at=now,
                                   by=by, progress=progress) as prepared:
                change = prepared.change
                if change.files:
                    self.byte_exact(change.files)
                if dry_run or not change.files:
                    done = Outcome("import", change.model, None, sorted(change.files))
                else:
                    done = self.apply(change, commit, branch)
        return prepared.report(done, dry_run)

    # -- object storage ----------------------------------------------------------------------
    def pull(self, ref: str, dest: Path | str | None = None,
             progress: Callable[[int, int], None] | None = None):
        """Download a version's stored files into the local cache (sha256 checked) and place them in `dest`
        (default: the cache's folder for the version); returns a pulling.PullReport."""
        from .pulling import pull_record
        from .query import split_model_uri

        name, vref = split_model_uri(ref)
        view = self.get(name, vref)
        return pull_record(view.record, view.folder, Path(dest) if dest is not None else None, progress)

    def gc(self, dry_run: bool = False, grace: float | str = 7 * 24 * 3600.0):
        """Fetch every remote, then mark the objects of this registry's namespace in the store that no record of any
        ref, stash, work tree or index names, and delete those a run at least `grace` (seconds, or `7d`, `12h`)
        earlier marked. Returns garbage.GcReport."""
        from .garbage import gc

        return gc(self.root, self.settings.store, dry_run, grace)

    # -- pull-request review (gate.py) -------------------------------------------------------
    def diff(self, base: str | None = None, head: str | None = None):
        """The registry change HEAD (default: the working tree) makes when merged into BASE (default: the
        default branch); over a stretch of one branch's history, each first-parent step in turn."""
        from .gate import compare

        return compare(self.root, base, head)

    def validate_change(self, base: str, head: str | None = None) -> list[str]:
        """Every problem of HEAD (a ref, or the working tree) merged into BASE's tip, by BASE's rules."""
        from .gate import validate

        return validate(self.root, base, head)

    # -- report ----------------------------------------------------------------------------
    def report(self, out: Path | str = "site", models: list[str] | None = None, at: str = "HEAD", *,
               jobs: int | None = None, progress: Callable[[int, int], None] | None = None):
        """Write the static site of the registry at git ref `at` into `out`; returns a report.Built."""
        from .report import build

        return build(self.root, Path(out), models, at, jobs=jobs, progress=progress)

    # -- MLflow ----------------------------------------------------------------------------
    def sync(self, tracking_uri: str | None = None, *, model: str | None = None, dry_run: bool = False,
             check: bool = False, prune: bool = False, force: bool = False, artifacts: bool = False,
             progress: Callable[[str, int], None] | None = None, repair: bool = False,
             allow_unmerged: bool = False, wait: float | None = None, on_wait: Callable[[str], None] | None = None):
        """Mirror the registry into MLflow (check / dry_run only compare); returns a sync.SyncReport."""
        from .sync import run_sync

        return run_sync(self, tracking_uri=tracking_uri, model=model, dry_run=dry_run, check=check, prune=prune,
                        force=force, artifacts=artifacts, progress=progress, repair=repair,
                        allow_unmerged=allow_unmerged, wait=wait, on_wait=on_wait)

    def ui(self, port: int, on_ready: Callable[[str], None]) -> None:
        """Serve MLflow's UI over the local store in .mlreg/ on 127.0.0.1:`port` until interrupted."""
        from .sync import serve_ui

        serve_ui(self.root, port, on_ready)


def get(url: str, ref: str, dest: Path | None = None, progress: Callable[[int, int], None] | None = None,
        rev: str | None = None) -> PullReport:
    """`mlreg get`: read one model's records from a remote git registry (a partial, sparse checkout of
    registry/NAME only) and pull the version's files into `dest` (default ./NAME-vN)."""
    import tempfile

    from . import gitops
    from .pulling import pull_record
    from .query import split_model_uri
    from .store import REGISTRY_DIR, check_name

    name, vref = split_model_uri(ref)
    check_name(name)
    with tempfile.TemporaryDirectory(prefix="mlreg-get-") as tmp:
        checkout = Path(tmp) / "registry-repo"
        gitops.sparse_checkout(url, f"{REGISTRY_DIR}/{name}", checkout, rev)
        reg = Registry(checkout)
        if not reg.store.has_model(name):
            raise MlregError(f"{url}: no model {name!r} in {REGISTRY_DIR}/")
        view = reg.get(name, vref)
        target = dest if dest is not None else Path.cwd() / f"{name}-v{view.record.version}"
        return pull_record(view.record, view.folder, target, progress)


def verify_cache() -> list:
    """`mlreg verify --cache`: hash every file of the local cache; what does not match is removed (the next pull
    downloads or copies it again). Returns filecache.CacheCheck rows."""
    from .filecache import Cache

    return Cache().verify()


def load_model(uri: str, repo: Path | str | None = None) -> Any:
    """Load an MLflow-format model named by `uri` with mlflow.pyfunc; otherwise return its path.

    For a version without an `MLmodel` file the path is `params.external_model_path` when recorded
    (models registered with --external), else the version folder (for a store-backed version: the local folder
    its files were pulled into, on demand).
    """
    from .extras import require
    from .query import mlflow_model_location

    res = Registry.open(repo).resolve(uri)
    where = mlflow_model_location(res)
    if where is None:
        external = res.record.params.get("external_model_path")
        return Path(external) if external else (res.files_dir or res.path)
    require("mlflow", f"loading the MLflow model of {res.record.name} v{res.record.version}")
    from .sync.mlflow_io import load_pyfunc  # heavy: only when a model is actually loaded

    return load_pyfunc(where)
