"""Reads: models, versions and refs, with what is derived from the registry around them. Never writes.

Each function takes the Workspace first, so `Registry` (api.py) offers it as a method. Reads skip the per-file
schema check (`validate` does it): the inference hot path never imports jsonschema.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import lifecycle
from ..core.files import REGISTRY_DIR, SETTINGS_FILE, RegistryFiles, check_name
from ..core.records import Model, Version
from ..core.suggest import did_you_mean
from ..core.views import ArtifactCheck, ModelSummary, ModelView, VersionView
from ..errors import MlregError, NotFound
from ..masking import mask
from .workspace import Workspace

if TYPE_CHECKING:
    from ..core.query import FindResult, Resolved
    from ..storage.catalog import Catalog


def models(ws: Workspace) -> list[ModelSummary]:
    """Every model, from model.yaml and folder names only (cheap)."""
    from ..storage import catalog

    found = catalog.model_rows(ws.files)  # model folders' and model.yaml files' stats only: no record is read
    if found is not None:
        summaries = []
        for name, held, info in found:
            if isinstance(info, Exception):
                raise info
            summaries.append(ModelSummary(name, info[0], len(held), held[-1] if held else None, info[1]))
        return summaries
    out = []
    for name in ws.files.model_names():
        m, nums = ws.files.model(name, validate=False), ws.files.version_numbers(name)
        out.append(ModelSummary(name, m.description, len(nums), nums[-1] if nums else None, m.aliases))
    return out


def versions(ws: Workspace, model: str | None = None, stage: str | None = None) -> list[VersionView]:
    """Every version (of one model, in one stage), ordered by model then version."""
    names = [check_name(model)] if model else ws.files.model_names()
    if model and not ws.files.has_model(model):
        raise NotFound(f"model {model!r} not found in {REGISTRY_DIR}/{did_you_mean(model, ws.files.model_names())}")
    if stage is not None:
        _known_stage(ws, stage)
    if model is None and stage is not None:
        held = bulk_views(ws, stage=stage)
        return [_real(ws, v) for v in held if v.record.stage == stage]
    records = [v for n in names for v in ws.files.versions(n, validate=False)]
    return [v for v in _views(ws.files, records, records) if stage is None or v.record.stage == stage]


def resolve_number(ws: Workspace, name: str, ref: str) -> int:
    """The version number a ref names in one model."""
    model = ws.files.model(check_name(name), validate=False)
    nums = ws.files.version_numbers(name)

    def holder(stage: str) -> int | None:
        held = [n for n in nums if ws.files.version(name, n, validate=False).stage == stage]
        return lifecycle.sole_holder(name, stage, held)

    return lifecycle.resolve_ref(model, nums, ws.files.settings(validate=False), ref, holder)


def get(ws: Workspace, name: str, ref: str = "latest") -> VersionView:
    """One version by ref, with its derived fields; reads only the models its lineage touches."""
    model = ws.files.model(check_name(name), validate=False)
    pool = _lineage_pool(ws.files, name, model)  # the model's folder is read once, not once per question
    own = {v.version: v for v in pool if v.name == name}

    def holder(stage: str) -> int | None:
        return lifecycle.sole_holder(name, stage, [n for n, v in own.items() if v.stage == stage])

    n = lifecycle.resolve_ref(model, sorted(own), ws.files.settings(validate=False), ref, holder)
    return _views(ws.files, [own[n]], pool)[0]


def show(ws: Workspace, name: str) -> ModelView:
    """One model with every version."""
    model = ws.files.model(check_name(name), validate=False)
    pool = _lineage_pool(ws.files, name, model)
    return ModelView(model, _views(ws.files, [v for v in pool if v.name == name], pool))


def history(ws: Workspace, name: str, ref: str | None = None) -> list:
    """Every registration, promotion, demotion, alias move and tag change of a model (or version), oldest first."""
    from ..storage import gitops
    from .history import weave

    only = resolve_number(ws, name, ref) if ref else None
    ws.files.model(check_name(name), validate=False)  # NotFound for an unknown model
    records = ws.files.versions(name, validate=False)
    folder = f"{REGISTRY_DIR}/{name}"
    return weave(gitops.log(ws.root, folder), records, only, gitops.touched_versions(ws.root, folder))


# -- queries: find, search, resolve (bulk reads skip per-file schema checks: `validate` does those) --
def find_latest(
    ws: Workspace,
    model: str | None = None,
    model_type: str | None = None,
    version_type: str | None = None,
    fallback_model_type: str | None = None,
    params: dict[str, str] | None = None,
) -> FindResult:
    """The newest version (created_at, then number) of a lineage model type (base, continued: not the params'
    model_type, which `params={'model_type': 'lgbm'}` filters on) and version type."""
    from ..core import query, tables

    def latest(views: list) -> FindResult:
        return query.find_latest(
            views,
            model=model,
            model_type=model_type,
            version_type=version_type,
            fallback_model_type=fallback_model_type,
            params=params,
        )

    cat = _catalog(ws) if model is None else None
    chosen = tables.latest(cat, model_type, version_type, fallback_model_type, params) if cat is not None else None
    return _found(ws, latest, cat, chosen, model)


def find_best(
    ws: Workspace,
    metric: str,
    model: str | None = None,
    model_type: str | None = None,
    higher_is_better: bool | None = None,
    fallback_model_type: str | None = None,
    params: dict[str, str] | None = None,
) -> FindResult:
    """The version with the best `metric` (direction from its name unless given); ties go to the newest.
    `model_type` is the lineage type; `params` must equal (e.g. {'model_type': 'lgbm'})."""
    from ..core import query, tables

    def best(views: list) -> FindResult:
        return query.find_best(
            views,
            metric,
            model=model,
            model_type=model_type,
            higher_is_better=higher_is_better,
            fallback_model_type=fallback_model_type,
            params=params,
        )

    cat = _catalog(ws) if model is None else None
    chosen = None
    if cat is not None:  # the metric's column picks the winning value; only its holders become views
        up = query.direction(metric, higher_is_better)
        chosen = tables.best(cat, metric, up, model_type, fallback_model_type, params)
    return _found(ws, best, cat, chosen, model)


def _catalog(ws: Workspace) -> Catalog | None:
    """The catalog, fresh, once every record is known to be readable (else the first error, as reading them)."""
    from ..storage import catalog

    cat = catalog.load(ws.files)
    if cat is not None:
        cat.check()
    return cat


def _found(
    ws: Workspace, find: Callable[[list], FindResult], cat: Catalog | None, chosen: Any, model: str | None
) -> FindResult:
    """find over the rows the catalog chose (counting every candidate), else over every version (whose views
    also make the message, hints and all, when nothing matches)."""
    if cat is not None and chosen is not None:
        rows, candidates = chosen
        found = find(cat.views(rows))
        found.candidates = candidates
    else:
        found = find(cat.views() if cat is not None else bulk_views(ws, model))
    found.view = _real(ws, found.view)
    return found


def find_by_stage(
    ws: Workspace, stage: str, params: dict[str, str] | None = None, model: str | None = None
) -> list[VersionView]:
    """Every version in `stage` (of one model) whose params equal all of `params`."""
    from ..core import query

    _known_stage(ws, stage)
    views = bulk_views(ws, model, stage=stage)  # every holder, for the check below
    if ws.settings.stages[stage].exclusive:  # two holders is an error naming both, never a silent pick
        held: dict[str, list[int]] = {}
        for v in views:
            if v.record.stage == stage:
                held.setdefault(v.record.name, []).append(v.record.version)
        for name, numbers in sorted(held.items()):
            lifecycle.sole_holder(name, stage, numbers)
    return [_real(ws, v) for v in query.find_by_stage(views, stage, params or {})]


def search(
    ws: Workspace, expr: str = "", order_by: str | list[str] | None = None, max_results: int | None = None
) -> list[VersionView]:
    """Versions matching an MLflow-style filter expression, sorted by the order-by keys."""
    from ..core import search as s, tables

    flt, order = s.parse_filter(expr), s.parse_order_by(order_by)
    pinned = flt.model_names()  # `name = 'x'` reads only that model's folder
    cat = _catalog(ws) if pinned is None else None
    if cat is not None:
        try:  # over the catalog's columns: only the rows found become views
            return [_real(ws, v) for v in cat.views(tables.search(cat, flt, order, max_results))]
        except TypeError:  # a value Python cannot compare: the views fail (or not) as they would have
            pass
    names = None if pinned is None else sorted(set(pinned) & set(ws.files.model_names()))
    views = query_views(ws, names)
    return [_real(ws, v) for v in s.search(views, flt, order, max_results)]


def resolve(ws: Workspace, ref: str, pull: bool = True, progress: Callable[[int, int], None] | None = None) -> Resolved:
    """`NAME@alias`, `NAME@stage`, `NAME/3`, `NAME@latest`, `models:/NAME@alias` -> version and local paths
    (store-backed files pulled into the cache on demand; `pull=False` gives their URIs instead)."""
    from ..core import query
    from ..objects.pulling import local_paths

    name, vref = query.split_model_uri(ref)
    view = get(ws, name, vref)
    paths, files_dir = local_paths(view.record, view.folder, pull, progress)
    store_dir = None
    if not pull and any(a.stored for a in view.record.artifacts):
        from ..objects.uploads import stored_folder

        store_dir = stored_folder(view.record)
    return query.Resolved(ref, view, paths, files_dir, store_dir)


def bulk_views(ws: Workspace, model: str | list[str] | None = None, stage: str | None = None) -> list:
    """query_views, served from the catalog (catalog.py) when every version is asked about: RowViews that
    queries read like VersionViews; `_real` turns the ones a query picked into VersionViews. With `stage`, the
    catalog's stage column picks the rows first, so only versions in it become views (the caller's own checks
    then run on those; without the catalog every version comes back)."""
    cat = _catalog(ws) if model is None else None
    if cat is None:
        return query_views(ws, model)
    rows: list[int] | None = None
    if stage is not None:
        col = cat.column("a:stage")
        rows = [] if col is None else [i for i in range(len(col)) if col[i] == stage]
    return cat.views(rows)


def _real(ws: Workspace, view) -> VersionView:
    from ..storage.catalogviews import RowView

    if not isinstance(view, RowView):
        return view
    name, n = view.key  # the folder it was read from (a record may name another: read as without the catalog)
    record = ws.files.version(name, n, validate=False)
    return VersionView(record, view.version_type, ws.files.version_dir(record.name, record.version))


def query_views(ws: Workspace, model: str | list[str] | None = None) -> list[VersionView]:
    """Views of every version, or of some models' (version_type from them and their derived models)."""
    if model is None:
        records = [v for n in ws.files.model_names() for v in ws.files.versions(n, validate=False)]
        return _views(ws.files, records, records)
    names = [check_name(model)] if isinstance(model, str) else model
    for n in names:
        if not ws.files.has_model(n):
            raise NotFound(f"model {n!r} not found in {REGISTRY_DIR}/{did_you_mean(n, ws.files.model_names())}")
    derived = [d for n in names for d in ws.files.model(n).derived_models if ws.files.has_model(d)]
    pool = {n: ws.files.versions(n, validate=False) for n in dict.fromkeys([*names, *derived])}
    return _views(ws.files, [v for n in names for v in pool[n]], [v for vs in pool.values() for v in vs])


# -- checks ------------------------------------------------------------------------------
def validate(ws: Workspace) -> list[str]:
    """Every schema and invariant problem of the work tree's registry (empty when valid)."""
    from ..core.checks import registry_problems
    from ..storage.validated import worktree_inputs

    if not (ws.root / SETTINGS_FILE).exists() and not ws.files.registry_dir.exists():
        raise MlregError(f"{ws.root}: no registry here (no mlreg.yaml, no registry/); run `mlreg init` first")
    hasher, memo, save = worktree_inputs(ws.root)  # digests and facts kept by git blob id under the git dir
    problems = registry_problems(ws.files, hasher, memo=memo)
    save()
    return problems


def verify(
    ws: Workspace,
    name: str,
    ref: str | None = None,
    download: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[ArtifactCheck]:
    """Re-hash every artifact (of one version, or of every version) against its recorded digest. Stored files
    are checked in the store: existence and size, and with `download` their sha256."""
    from ..objects.uploads import check_stored

    records = [get(ws, name, ref).record] if ref else ws.files.versions(check_name(name))
    if not records:
        raise NotFound(f"model {name!r} has no versions")
    stored = [(v, a) for v in records for a in v.artifacts if a.stored]
    found = dict(
        zip(map(id, (a for _, a in stored)), check_stored([a for _, a in stored], download, progress), strict=True)
    )
    return [
        ArtifactCheck(v.name, v.version, mask(a.uri or ""), *found[id(a)][:1], a.sha256, found[id(a)][1])
        if a.stored
        else _check_artifact(ws.files, v, a)
        for v in records
        for a in v.artifacts
    ]


def _known_stage(ws: Workspace, stage: str) -> None:
    lifecycle.check_stage(ws.settings, stage)


def _views(store: RegistryFiles, records: list[Version], pool: list[Version]) -> list[VersionView]:
    bases = {(c.lineage.base.model, c.lineage.base.version) for c in pool if c.lineage.base}
    return [
        VersionView(v, "old" if (v.name, v.version) in bases else "latest", store.version_dir(v.name, v.version))
        for v in records
    ]


def _lineage_pool(store: RegistryFiles, name: str, model: Model | None = None) -> list[Version]:
    """Versions that could name a version of `name` as their base: its own and its derived models'."""
    model = model or store.model(name, validate=False)
    names = [name, *model.derived_models]
    return [v for n in dict.fromkeys(names) if store.has_model(n) for v in store.versions(n, validate=False)]


def _check_artifact(store: RegistryFiles, v: Version, a) -> ArtifactCheck:
    from ..core.runmeta import digest

    if a.path is not None:
        path, location = store.version_dir(v.name, v.version) / a.path, a.path
    else:
        location = mask(a.uri)  # a record may carry credentials (validate flags it): never shown
        path = Path(a.uri[len("file://") :] if a.uri.startswith("file://") else a.uri)
        if "://" in a.uri and not a.uri.startswith("file://"):
            return ArtifactCheck(v.name, v.version, location, "unreachable", a.sha256)
    if not path.is_file():
        status = "missing" if a.path is not None else "unreachable"
        return ArtifactCheck(v.name, v.version, location, status, a.sha256)
    actual = digest(path)
    return ArtifactCheck(v.name, v.version, location, "ok" if actual == a.sha256 else "mismatch", a.sha256, actual)
