"""Mirror the registry into MLflow: desired state from git, actual state from MLflow in bulk, a plan, then writes.

`mlflow` is imported only by `mlflow_io`, and only when a sync runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .desired import WantModel, want_model
from .plan import Actual, Item, ItemQueries, Options, known_run_ids, plan
from .ui import check_port, serve_ui, ui_command
from .uri import Target, check_supported, local_store, mask, prepare, resolve

if TYPE_CHECKING:
    from ..api import Registry

__all__ = ["SyncReport", "Target", "check_port", "desired_state", "local_store", "registry_id", "resolve", "run_sync", "serve_ui",
           "ui_command"]

KINDS = ("model", "run", "version", "alias")
COLUMNS = {"create": "created", "update": "updated", "unchanged": "unchanged", "conflict": "conflicts",
           "prune": "pruned", "extra": "extra", "kept": "kept", "foreign": "foreign"}


@dataclass
class SyncReport(ItemQueries):
    """What sync did (or, for --check / --dry-run, would do), object by object."""

    tracking_uri: str  # masked
    uri_source: str
    mode: str  # sync | check | dry-run
    items: list[Item] = field(default_factory=list)
    writes: int = 0  # steps in the plan
    forced: bool = False

    @property
    def ok(self) -> bool:
        """check: no drift; sync and dry-run: no conflicts."""
        return not (self.drift if self.mode == "check" else self.conflicts)

    def counts(self) -> dict[str, dict[str, int]]:
        """kind -> created/updated/unchanged/conflicts/pruned/extra/kept -> count."""
        c = Counter((i.kind, i.status) for i in self.items)
        return {k: {col: c[(k, status)] for status, col in COLUMNS.items()} for k in KINDS}

    def totals(self) -> dict[str, int]:
        c = Counter(i.status for i in self.items)
        return {col: c[status] for status, col in COLUMNS.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.tracking_uri, "uri_source": self.uri_source, "mode": self.mode, "ok": self.ok,
            "writes": self.writes, "totals": self.totals(), "counts": self.counts(),
            "conflicts": [i.to_dict() for i in self.conflicts],
            "changes": [i.to_dict() for i in self.items if i.status != "unchanged"],
        }


def desired_state(reg: Registry, model: str | None = None) -> tuple[list[WantModel], list[str]]:
    """What MLflow should hold for every model (or one), and base models outside that scope to read too."""
    from .. import gitops

    if model:
        view = reg.show(model)
        groups, models = {model: view.versions}, {model: view.model}
    else:
        groups = {}
        for v in reg.versions():
            groups.setdefault(v.record.name, []).append(v)
        models = {n: reg.store.model(n) for n in reg.store.model_names()}
    commits = gitops.last_commits(reg.root, f"registry/{model}" if model else "registry")
    head = gitops.Git(reg.root).head() or "uncommitted"
    rid, url = registry_id(reg), mask(gitops.remote_url(reg.root) or "")
    records = {(v.record.name, v.record.version): v.record for vs in groups.values() for v in vs}
    bases = {}
    for r in records.values():
        if r.lineage.base:
            key = (r.lineage.base.model, r.lineage.base.version)
            bases[key] = records.get(key) or _read_base(reg, *key)
    bases = {k: v for k, v in bases.items() if v is not None}
    wants = [want_model(models[n], groups.get(n, []), reg.settings, commits, head, bases, rid, url)
             for n in _bases_first(models, records)]
    also = sorted({k[0] for k in bases} - set(models))
    return wants, also


def registry_id(reg: Registry) -> str:
    """This registry's id in MLflow: `registry_id` of mlreg.yaml, else `git-` + its root commit (stable across
    clones); "" before the first commit."""
    from .. import gitops

    if reg.settings.registry_id:
        return reg.settings.registry_id
    root = gitops.root_commit(reg.root)
    return f"git-{root[:16]}" if root else ""


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


def _read_base(reg: Registry, name: str, number: int):
    from ..errors import MlregError

    try:
        return reg.store.version(name, number)
    except MlregError:
        return None


def run_sync(reg: Registry, *, tracking_uri: str | None = None, model: str | None = None, dry_run: bool = False,
             check: bool = False, prune: bool = False, force: bool = False, artifacts: bool = False,
             progress: Callable[[str, int], None] | None = None, workers: int | None = None) -> SyncReport:
    """Mirror git into MLflow (or, with check / dry_run, only compare). `progress(label, total)` per write."""
    from ..extras import require

    require("mlflow", "`mlreg sync`")
    target = resolve(reg.root, tracking_uri, reg.settings.tracking_uri)
    check_supported(target)
    wants, also = desired_state(reg, model)
    mode = "check" if check else ("dry-run" if dry_run else "sync")
    options = Options(force=force, prune=prune, artifacts=artifacts)
    if mode == "sync":
        prepare(reg.root, target)
    elif not target.exists:  # a store not made yet is empty: compare with nothing, and create nothing
        the_plan = plan(wants, Actual(), options)
        return SyncReport(target.shown, target.source, mode, the_plan.items, the_plan.writes, force)
    with _connected(target, workers) as io:
        actual = io.read(wants, also, registry_id(reg), whole=model is None, artifacts=artifacts)
        the_plan = plan(wants, actual, options)
        report = SyncReport(target.shown, target.source, mode, the_plan.items, the_plan.writes, force)
        if mode == "sync" and the_plan.writes and not the_plan.conflicts:  # any conflict left: write nothing
            total = the_plan.writes
            io.apply(the_plan, (lambda label: progress(label, total)) if progress else (lambda label: None),
                     known_run_ids(actual))
    return report


@contextmanager
def _connected(target: Target, workers: int | None = None) -> Iterator[Any]:
    """The MLflow side, inside MLflow's quiet, bounded-retry session."""
    from . import mlflow_io

    with mlflow_io.session(target):
        yield mlflow_io.MlflowIO(target, workers)
