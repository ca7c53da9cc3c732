"""Mirror the registry into MLflow: desired state from git, actual state from MLflow in bulk, a plan, then writes.

`mlflow` is imported only by `mlflow_io`, and only when a sync runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..core.files import RegistryFiles
from ..core.records import Model, Settings, Version
from .actual import Actual
from .desired import REGISTRY, WantModel, want_model
from .ops import Item, ItemQueries, Options
from .plan import known_run_ids, plan
from .ui import check_port, serve_ui, ui_command
from .uri import Target, check_supported, local_store, mask, prepare, resolve

__all__ = [
    "RegistrySource",
    "SyncReport",
    "Target",
    "check_port",
    "desired_state",
    "local_store",
    "registry_id",
    "resolve",
    "run_sync",
    "serve_ui",
    "ui_command",
]

KINDS = ("model", "run", "version", "alias")
COLUMNS = {
    "create": "created",
    "update": "updated",
    "unchanged": "unchanged",
    "conflict": "conflicts",
    "prune": "pruned",
    "extra": "extra",
    "kept": "kept",
    "foreign": "foreign",
}


@dataclass
class SyncReport(ItemQueries):
    """What sync did (or, for --check / --dry-run, would do), object by object."""

    tracking_uri: str  # masked
    uri_source: str
    mode: str  # sync | check | dry-run
    items: list[Item] = field(default_factory=list)
    writes: int = 0  # steps in the plan
    forced: bool = False
    rebuilt: list[str] = field(default_factory=list)  # registered models deleted and made again (--force/--repair)
    warnings: list[str] = field(default_factory=list)  # one line each: what sync left out, and why

    @property
    def ok(self) -> bool:
        """check: no drift; sync and dry-run: no conflicts."""
        return not (self.drift if self.mode == "check" else self.conflicts or self.broken)

    def counts(self) -> dict[str, dict[str, int]]:
        """kind -> created/updated/unchanged/conflicts/pruned/extra/kept -> count."""
        c = Counter((i.kind, i.status) for i in self.items)
        return {k: {col: c[(k, status)] for status, col in COLUMNS.items()} for k in KINDS}

    def totals(self) -> dict[str, int]:
        c = Counter(i.status for i in self.items)
        return {col: c[status] for status, col in COLUMNS.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.tracking_uri,
            "uri_source": self.uri_source,
            "mode": self.mode,
            "ok": self.ok,
            "writes": self.writes,
            "warnings": self.warnings,
            "rebuilt": self.rebuilt,
            "totals": self.totals(),
            "counts": self.counts(),
            "conflicts": [i.to_dict() for i in self.conflicts],
            "changes": [i.to_dict() for i in self.items if i.status != "unchanged"],
        }


class VersionLike(Protocol):
    """A version record with the fields the registry derives around it (api.VersionView is one)."""

    record: Version
    version_type: str
    folder: Path


class ModelLike(Protocol):
    """A model with its versions (api.ModelView is one)."""

    model: Model
    versions: list[Any]  # of VersionLike


class RegistrySource(Protocol):
    """What sync reads from a registry (api.Registry is one): passed in, so sync never imports the api."""

    @property
    def root(self) -> Path: ...

    @property
    def files(self) -> RegistryFiles: ...

    @property
    def settings(self) -> Settings: ...

    def versions(self) -> list[Any]: ...  # of VersionLike

    def show(self, name: str) -> ModelLike: ...


def scope(reg: RegistrySource, model: str | None = None) -> tuple[dict[str, Model], dict[str, list[VersionLike]]]:
    """The models sync mirrors (every one, or one) and their versions, read through the registry's views."""
    if model:
        view = reg.show(model)
        return {model: view.model}, {model: view.versions}
    groups: dict[str, list[VersionLike]] = {}
    for v in reg.versions():
        groups.setdefault(v.record.name, []).append(v)
    return {n: reg.files.model(n) for n in reg.files.model_names()}, groups


def desired_state(
    root: Path,
    store: RegistryFiles,
    settings: Settings,
    models: dict[str, Model],
    groups: dict[str, list[VersionLike]],
    model: str | None = None,
    provenance: bool = True,
) -> tuple[list[WantModel], list[str]]:
    """What MLflow should hold for `models` (every model, or the one `model`) with their versions `groups`, and
    base models outside that scope to read too. Without `provenance`, the commit and repository URL a new run is
    tagged with are left out (two git calls, one of them a log of the registry's history): only a sync that
    creates runs needs them, a comparison never does."""
    from ..storage import gitops

    commits: dict[str, str] = {}
    head = url = ""
    if provenance:
        commits = gitops.last_commits(root, f"registry/{model}" if model else "registry")
        head = gitops.Git(root).head() or "uncommitted"
        url = mask(gitops.remote_url(root) or "")
    rid = registry_id(root, settings)
    records = {(v.record.name, v.record.version): v.record for vs in groups.values() for v in vs}
    bases = {}
    for r in records.values():
        if r.lineage.base:
            key = (r.lineage.base.model, r.lineage.base.version)
            if (base := records.get(key) or _read_base(store, *key)) is not None:
                bases[key] = base
    wants = [
        want_model(models[n], groups.get(n, []), settings, commits, head, bases, rid, url)
        for n in _bases_first(models, records)
    ]
    also = sorted({k[0] for k in bases} - set(models))
    return wants, also


def registry_id(root: Path, settings: Settings) -> str:
    """This registry's id in MLflow: `registry_id` of mlreg.yaml, else `git-` + its root commit (stable across
    clones); "" before the first commit."""
    from ..storage import gitops

    if settings.registry_id:
        return settings.registry_id
    first = gitops.root_commit(root)
    return f"git-{first[:16]}" if first else ""


def _bases_first(models: dict, records: dict) -> list[str]:
    """Model names with every model another one enhances before it (so base runs exist first)."""
    needs: dict[str, set[str]] = {n: set() for n in models}
    for r in records.values():
        if r.lineage.base and r.lineage.base.model != r.name and r.lineage.base.model in models:
            needs[r.name].add(r.lineage.base.model)
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        if name in order or name in path:
            return
        for dep in sorted(needs[name]):
            visit(dep, (*path, name))
        order.append(name)

    for name in sorted(models):
        visit(name)
    return order


def _read_base(store: RegistryFiles, name: str, number: int) -> Version | None:
    from ..errors import MlregError

    try:
        return store.version(name, number)
    except MlregError:
        return None


def run_sync(
    reg: RegistrySource,
    *,
    tracking_uri: str | None = None,
    model: str | None = None,
    dry_run: bool = False,
    check: bool = False,
    prune: bool = False,
    force: bool = False,
    artifacts: bool = False,
    progress: Callable[[str, int], None] | None = None,
    workers: int | None = None,
    repair: bool = False,
    allow_unmerged: bool = False,
    wait: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> SyncReport:
    """Mirror git into MLflow (or, with check / dry_run, only compare). `progress(label, total)` per write.

    A sync that writes holds this registry's lease on the server (one sync at a time; `wait` seconds at most for
    another to finish, `on_wait(holder)` when it starts waiting). Without `allow_unmerged` a server is synced only
    from a commit on the remote's default branch (see landed.py)."""
    from ..extras import require

    require("mlflow", "`mlreg sync`")
    root, settings = reg.root, reg.settings
    target = resolve(root, tracking_uri, settings.tracking_uri)
    check_supported(target)
    mode = "check" if check else ("dry-run" if dry_run else "sync")
    if mode == "sync" and not target.embedded and not allow_unmerged:
        from .landed import require_landed

        require_landed(root)
    models, groups = scope(reg, model)
    wants, also = desired_state(root, reg.files, settings, models, groups, model, provenance=False)
    options = Options(force=force, prune=prune, artifacts=artifacts, repair=repair)
    if mode == "sync":
        prepare(root, target)
    elif not target.exists:  # a store not made yet is empty: compare with nothing, and create nothing
        the_plan = plan(wants, Actual(), options)
        return SyncReport(target.shown, target.source, mode, the_plan.items, the_plan.writes, force)
    rid = registry_id(root, settings)
    light = _light_report(target, wants, also, rid, mode, options, whole=model is None)
    if light is not None:  # answered without importing MLflow, and nothing to write
        return light
    if mode == "sync":  # runs it creates are tagged with their commit
        wants, also = desired_state(root, reg.files, settings, models, groups, model)
    with _connected(target, workers) as io:  # the light path above has asked the server's database already

        def compare() -> tuple[Actual, Any]:
            actual = io.read(wants, also, rid, whole=model is None, artifacts=artifacts)
            return actual, plan(wants, actual, options)

        actual, the_plan = compare()
        report = SyncReport(target.shown, target.source, mode, the_plan.items, the_plan.writes, force)
        if mode == "check":
            report.items += io.check_server(wants if artifacts else [])
        if mode != "sync":
            return report
        if not (the_plan.writes or _rebuilds(the_plan, actual, options, rid)):
            return report
        with io.lease(rid, wait, on_wait) as lease:  # another sync may have written meanwhile: read again
            actual, the_plan = compare()
            rebuild = _rebuilds(the_plan, actual, options, rid)
            if rebuild:
                io.rebuild(rebuild, [r for mp in the_plan.models if mp.name in rebuild for r in mp.stale_runs])
                actual, the_plan = compare()
            report = SyncReport(target.shown, target.source, mode, the_plan.items, the_plan.writes, force)
            report.rebuilt = rebuild
            if the_plan.writes and not the_plan.conflicts:  # any conflict left: write nothing
                total = the_plan.writes

                def tick(label: str) -> None:
                    lease.check()
                    if progress:
                        progress(label, total)

                try:
                    io.apply(the_plan, tick, known_run_ids(actual))
                finally:
                    report.warnings += io.warnings
    return report


def _light_report(
    target: Target, wants: list[WantModel], also: list[str], rid: str, mode: str, options: Options, *, whole: bool
) -> SyncReport | None:
    """The report read through the light path (light.py: no MLflow import) when that path answers and there is
    nothing to write; None: ask MLflow's client (and, for a sync with writes, write through it)."""
    from ..errors import MlregError
    from . import light
    from .mlflow_io.diagnose import preflight
    from .uri import scrub

    down = preflight(target.uri, target.shown)  # a database that is down: said at once, before any fallback
    if down:
        raise MlregError(scrub(down, target.uri))
    found = light.read(target, wants, also, rid, whole=whole, artifacts=options.artifacts, check=mode == "check")
    if found is None:
        return None
    actual, server_items = found
    the_plan = plan(wants, actual, options)
    if mode == "sync" and (the_plan.writes or _rebuilds(the_plan, actual, options, rid)):
        return None
    report = SyncReport(target.shown, target.source, mode, the_plan.items, the_plan.writes, options.force)
    report.items += server_items
    return report


def _rebuilds(the_plan: Any, actual: Actual, options: Options, rid: str) -> list[str]:
    """Registered models to delete and make again from git (their runs stay, but for stale ones): with --force
    the ones holding runs synced from another record (params and files cannot change in a run, nor a model
    version's run), with --repair the ones that have versions to create (MLflow may number them past git's).
    Only registered models this registry made, every version of them by mlreg."""
    out = []
    for mp in the_plan.models:
        have = actual.models.get(mp.name)
        if (
            have is None
            or not have.exists
            or have.tags.get(REGISTRY) != rid
            or not all(hv.owned for hv in have.versions.values())
        ):
            continue
        if (options.force and mp.stale_runs) or (options.repair and any(op.create for op in mp.versions)):
            out.append(mp.name)
    return out


@contextmanager
def _connected(target: Target, workers: int | None = None) -> Iterator[Any]:
    """The MLflow side, inside MLflow's quiet, bounded-retry session."""
    from . import mlflow_io

    with mlflow_io.session(target, preflight=False):
        yield mlflow_io.MlflowIO(target, workers)
