"""`mlreg import mlflow`: an MLflow registry read in bulk, planned as version records, its artifacts fetched.

Plain data and planning here; every MLflow call goes through `mlflow_io`, and none of them writes to MLflow.
Version N in MLflow becomes registry/<model>/v<N>: numbers are kept, so the registry's rule (versions
contiguous from 1) turns a gap left by a deleted MLflow version into an error rather than a renumbering.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gitops
from ..errors import MlregError
from ..records import Artifact, Base, Lineage, Model, Run, Settings, StageChange, Version
from ..store import REGISTRY_DIR, VERSION_FILE, Store, check_name, version_dirname
from .desired import LINKED, promotion_tags
from .uri import Target, mask, resolve

if TYPE_CHECKING:
    from ..api import Outcome, Registry

Progress = Callable[[str, int], None]
SYSTEM = ("mlflow.", "mlreg.")  # MLflow's own tags and mlreg's bookkeeping: never imported as tags
# version tags `mlreg sync` derives from the record: read into stage/lineage (and notes), not into `tags`
MANAGED = frozenset({"stage", "version_type", "model_type", "enhancement_type", "enhancement_timestamp",
                     "previous_timesteps", "total_timesteps", "last_promoted_at", "demotion_reason",
                     "demotion_timestamp", *LINKED})
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,254}$")
_SUBJECT_NAMES = 5  # model names spelled out in the commit subject


# -- what MLflow holds (filled by mlflow_io.read_models / read_versions) -------------------------------------------
@dataclass
class SourceRun:
    """The MLflow run a model version was made from."""

    run_id: str
    experiment: str | None
    name: str | None
    start_ms: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class SourceVersion:
    """One MLflow model version."""

    number: int
    description: str
    source: str
    run_id: str | None
    current_stage: str | None  # MLflow's legacy stage (None, Staging, Production, Archived)
    created_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)
    run: SourceRun | None = None


@dataclass
class SourceModel:
    """One MLflow registered model with its versions, oldest first."""

    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: list[SourceVersion] = field(default_factory=list)


# -- what the import writes ---------------------------------------------------------------------------
@dataclass
class ImportPlan:
    """model.yaml files to write (new models, bases gaining derived models) and new versions, in order."""

    models: list[Model] = field(default_factory=list)
    versions: list[tuple[Version, SourceVersion]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[Version]:
        return [r for r, _ in self.versions]


@dataclass
class ImportReport:
    """What `import mlflow` did (or, in a dry run, would do)."""

    tracking_uri: str  # masked
    uri_source: str
    dry_run: bool
    outcome: Outcome
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[Version]:
        return self.outcome.records

    def to_dict(self) -> dict[str, Any]:
        versions = [{"model": r.name, "version": r.version, "stage": r.stage, "mlflow_run_id": r.run.mlflow_run_id,
                     "artifacts": len(r.artifacts)} for r in self.records]
        return self.outcome.to_dict() | {"tracking_uri": self.tracking_uri, "uri_source": self.uri_source,
                                         "dry_run": self.dry_run, "versions": versions, "notes": self.notes}


@dataclass
class Prepared:
    """A planned import with its files fetched (they live until the context closes) and its change set."""

    target: Target
    plan: ImportPlan
    change: gitops.ChangeSet

    def report(self, outcome: Outcome, dry_run: bool) -> ImportReport:
        outcome.records = self.plan.records
        return ImportReport(self.target.shown, self.target.source, dry_run, outcome, self.plan.notes)


@contextmanager
def prepare(reg: Registry, tracking_uri: str | None, names: list[str] | None, *, external: bool, fetch: bool,
            at: str, by: str, progress: Progress | None = None) -> Iterator[Prepared]:
    """Read MLflow, plan the import against the registry, fetch artifacts (unless not `fetch`): nothing written."""
    from ..extras import require

    require("mlflow", "`mlreg import mlflow`")
    from . import mlflow_io

    names = [check_name(n, "--model name") for n in dict.fromkeys(names or [])] or None
    target = source_target(reg.root, tracking_uri, reg.settings.tracking_uri)
    with tempfile.TemporaryDirectory(prefix="mlreg-import-") as tmp:
        with _connected(target) as io:  # closed before the caller writes: its errors are not MLflow's
            sources = mlflow_io.read_models(io, names)
            _check_sources(sources, names, target)  # before names go into MLflow filter strings
            mlflow_io.read_versions(io, sources)
            plan = plan_import(sources, reg.store, reg.settings, at, by, target.shown)
            files = fetch_artifacts(io, plan, Path(tmp), external, progress or (lambda label, total: None),
                                    None if external else reg.settings.store) if fetch else {}
        yield Prepared(target, plan, change_set(plan, reg.store, files, target.shown))


def source_target(root: Path, tracking_uri: str | None, settings_uri: str | None) -> Target:
    """`--tracking-uri`, else MLFLOW_TRACKING_URI, else mlreg.yaml; an sqlite store must already exist."""
    target = resolve(root, tracking_uri, settings_uri)
    db = Path(target.uri[len("sqlite:///"):]) if target.uri.startswith("sqlite:///") else None
    if target.embedded and not db.is_file():
        raise MlregError("no MLflow to import from: pass --tracking-uri URI (or set MLFLOW_TRACKING_URI, or "
                         "mlflow.tracking_uri in mlreg.yaml)")
    if db is not None and not db.is_file():
        raise MlregError(f"{target.shown}: no MLflow database at {db}; expected an existing sqlite file")
    return target


@contextmanager
def _connected(target: Target) -> Iterator[Any]:
    """MLflow's quiet, bounded-retry session; its `rerun mlreg sync` advice reworded for import."""
    from . import mlflow_io

    try:
        with mlflow_io.session(target):
            yield mlflow_io.MlflowIO(target)
    except MlregError as e:
        text = str(e)
        if text.startswith("cannot reach MLflow") and "; check the tracking URI" in text:
            text = text.split("; check the tracking URI")[0] + ("; check the tracking URI and that the server is "
                                                                "running, then rerun `mlreg import mlflow`")
            raise MlregError(text) from None
        raise


def _check_sources(sources: list[SourceModel], names: list[str] | None, target: Target) -> None:
    """Every --model exists in MLflow; every name fits the registry's naming rule."""
    missing = sorted(set(names or []) - {s.name for s in sources})
    if missing:
        raise MlregError(f"MLflow at {target.shown} has no registered model named "
                         f"{', '.join(repr(m) for m in missing)}")
    bad = [s.name for s in sources if not _valid_name(s.name)]
    if bad:
        raise MlregError(f"MLflow registered model name(s) {', '.join(repr(b) for b in bad)}: not usable as registry "
                         "names (expected 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit); "
                         "rename them in MLflow, or import the others with --model NAME")


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except MlregError:
        return False
    return True


# -- planning (no I/O but reading the registry) --------------------------------------------------------
def plan_import(sources: list[SourceModel], store: Store, settings: Settings, at: str, by: str,
                shown: str) -> ImportPlan:
    """The model.yaml files and version records to write; a gap in version numbers is an error naming it."""
    plan, problems = ImportPlan(), []
    pinned: dict[tuple[str, str], int] = {}  # (model, stage) -> the version an MLflow alias of that stage names
    for sm in sources:
        have = store.version_numbers(sm.name)
        numbers = _new_numbers(sm, have, problems)
        if numbers is None:
            continue
        if not store.has_model(sm.name):
            plan.models.append(_model(sm, settings, plan.notes, pinned))
        elif not numbers:
            plan.notes.append(f"{sm.name}: skipped, already in git (v1-v{have[-1]})" if have else
                              f"{sm.name}: skipped, already in git (no versions in MLflow)")
            continue
        elif have:
            plan.notes.append(f"{sm.name}: v1-v{have[-1]} already in git; importing version(s) {span(numbers)} "
                              "(model.yaml kept as it is in git)")
        for sv in sm.versions:
            if sv.number in numbers:
                plan.versions.append((_record(sm.name, sv, settings, at, by, shown), sv))
                if not sv.run_id:
                    plan.notes.append(f"{sm.name} v{sv.number}: no run in MLflow, so `mlreg sync` to this server "
                                      "will report it as a conflict (sync adopts versions whose run git records)")
    if problems:
        raise MlregError("\n".join(problems))
    _link_bases(plan, store)
    _pin_stages(plan, pinned, at)
    _one_holder(plan, store, settings, pinned, at)
    _check_history(plan)
    return plan


def _new_numbers(sm: SourceModel, have: list[int], problems: list[str]) -> list[int] | None:
    """MLflow's numbers above git's highest, when they continue it without a gap (None: a gap, reported)."""
    top = have[-1] if have else 0
    numbers = [v.number for v in sm.versions]
    new = [n for n in numbers if n > top]
    if new == list(range(top + 1, top + 1 + len(new))):
        return new
    missing = sorted(set(range(top + 1, new[-1] + 1)) - set(new))
    after = f" after v{top}, the highest in git" if top else " from 1"
    problems.append(f"MLflow model {sm.name!r} has versions {span(numbers)}: {span(missing)} missing (deleted in "
                    f"MLflow?); the registry keeps MLflow's numbers and needs them contiguous{after}, so this model "
                    "cannot be imported (import the others with --model NAME)")
    return None


def span(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> `1-3, 5`."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _model(sm: SourceModel, settings: Settings, notes: list[str], pinned: dict[tuple[str, str], int]) -> Model:
    """model.yaml from the registered model: description, tags (not mlflow.*/mlreg.*), aliases mlreg allows.

    An alias that names a stage's holder in mlreg (`champion`) is not kept as an alias: its version gets the stage.
    """
    aliases, stage_of = {}, stage_aliases(settings)
    for alias, n in sorted(sm.aliases.items()):
        allowed = settings.aliases is None or alias in settings.aliases
        if alias in stage_of:
            pinned[(sm.name, stage_of[alias])] = n
        elif _ALIAS.match(alias) and alias != "latest" and allowed:
            aliases[alias] = n
        else:
            why = "not allowed by mlreg.yaml" if _ALIAS.match(alias) else "not a valid mlreg alias name"
            notes.append(f"{sm.name}: alias {alias!r} (v{n}) not imported: {why}")
    tags = {k: v for k, v in sm.tags.items() if not k.startswith(SYSTEM)}
    return Model(name=sm.name, description=sm.description, tags=tags, aliases=aliases)


def stage_aliases(settings: Settings) -> dict[str, str]:
    """Names that mean a stage's holder (each exclusive stage, each stage's mirrored alias) -> the stage."""
    out = {spec.name: spec.name for spec in settings.stages.values() if spec.exclusive}
    return out | {alias: stage for stage, alias in settings.alias_stages().items()}


def _pin_stages(plan: ImportPlan, pinned: dict[tuple[str, str], int], at: str) -> None:
    """The version an MLflow alias such as `champion` names takes that stage (sync mirrors it back as the alias)."""
    for r in plan.records:
        for (name, stage), n in pinned.items():
            if (r.name, r.version) == (name, n) and r.stage != stage:
                plan.notes.append(f"{name} v{n}: imported in stage {stage!r}, as MLflow's alias for that stage "
                                  f"names it (was {r.stage!r})")
                _set_stage(r, stage, at)


def _record(name: str, sv: SourceVersion, settings: Settings, at: str, by: str, shown: str) -> Version:
    """The version record (artifacts come later): run data, human tags, stage, lineage, provenance notes."""
    run = sv.run or SourceRun(sv.run_id or "", None, None, None)
    tags = {k: v for k, v in run.tags.items() if _human(k)} | {k: v for k, v in sv.tags.items() if _human(k)}
    stage = stage_for(sv, settings)
    return Version(
        name=name, version=sv.number, created_at=_iso(sv.created_ms) or at, created_by=by, stage=stage,
        description=sv.description,
        run=Run(experiment=run.experiment, name=run.name, mlflow_run_id=sv.run_id,
                training_timestamp=_iso(run.start_ms)),
        params=dict(run.params),
        metrics={k: float(v) for k, v in run.metrics.items() if math.isfinite(v)},
        tags=tags, lineage=_lineage(sv.tags),
        stage_history=rebuilt_history(sv.tags, stage, at, by,
                                      f"imported from MLflow {shown} (model version {sv.number})"),
        notes=_notes(sv, shown, run),
    )


_PROMOTION = re.compile(r"^promotion_(\d{8})_(\d{4})(?:_(\d+))?$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
IMPORTED_BY = "imported from MLflow"
HISTORY_TAGS = ("last_promoted_at", "demotion_reason", "demotion_timestamp")


def rebuilt_history(tags: dict[str, str], stage: str, at: str, by: str, reason: str) -> list[StageChange]:
    """stage_history from the promotion_/demotion_ tags `mlreg sync` writes: an `import` entry, then the
    promotions and demotion in time order, then an `import` entry into `stage` when the chain ends elsewhere."""
    chain = _promotions(tags)
    if chain and tags.get("promotion_reason"):
        chain[-1].reason = tags["promotion_reason"]
    demoted = tags.get("demotion_timestamp", "")
    if _TIMESTAMP.match(demoted):
        chain.append(StageChange(to=stage, at=demoted, by=IMPORTED_BY, action="demote",
                                 reason=tags.get("demotion_reason") or None))
        chain.sort(key=lambda c: c.at)  # stable: same-minute promotions keep their suffix order
    start = (chain[0].from_ if chain else None) or stage
    out = [StageChange(to=start, at=min([at, *(c.at for c in chain[:1])]), by=by, action="import", reason=reason),
           *chain]
    for i, c in enumerate(out):  # a demotion leaves the stage before it for the one the next change starts from
        if c.action == "demote":
            c.from_ = out[i - 1].to
            c.to = next((n.from_ for n in out[i + 1:] if n.from_), stage)
    if out[-1].to != stage:
        out.append(StageChange(to=stage, at=max(at, out[-1].at), by=by, action="import", reason=reason))
    return out


def _promotions(tags: dict[str, str]) -> list[StageChange]:
    """One `promote` per `promotion_<YYYYMMDD_HHMM>[_N]` tag whose value reads `from -> to`, oldest first."""
    found = []
    for key, value in tags.items():
        m, parts = _PROMOTION.match(key), value.split(" -> ")
        if m and len(parts) == 2 and all(p.strip() for p in parts):
            d, t = m.group(1), m.group(2)
            when = f"{d[:4]}-{d[4:6]}-{d[6:]}T{t[:2]}:{t[2:]}:00Z"
            src = parts[0].strip()
            found.append(((when, int(m.group(3) or 1)), StageChange(
                to=parts[1].strip(), at=when, by=IMPORTED_BY, action="promote",
                from_=None if src == "none" else src)))
    return [c for _, c in sorted(found, key=lambda kc: kc[0])]


def _check_history(plan: ImportPlan) -> None:
    """Note each version whose promotion/demotion tags its rebuilt stage_history does not reproduce exactly."""
    for r, sv in plan.versions:
        have = {k: v for k, v in sv.tags.items() if k in HISTORY_TAGS or k.startswith("promotion_")}
        derived = promotion_tags(r.stage_history)
        if derived != have:
            diff = sorted(set(have.items()) ^ set(derived.items()))
            plan.notes.append(f"{r.name} v{r.version}: stage_history rebuilt from MLflow's promotion tags does not "
                              f"reproduce {', '.join(dict.fromkeys(k for k, _ in diff))}; `mlreg sync` will rewrite "
                              "them (the originals are in the version's notes)")


def _set_stage(r: Version, stage: str, at: str) -> None:
    """Move an imported record to `stage`: its closing `import` entry moves (or goes, or is added)."""
    r.stage, history = stage, r.stage_history
    last = history[-1]
    if last.action == "import" and len(history) > 1 and history[-2].to == stage:
        history.pop()
    elif last.action == "import":
        last.to = stage
    else:
        first = history[0]
        history.append(StageChange(to=stage, at=max(at, last.at), by=first.by, action="import", reason=first.reason))


def _human(key: str) -> bool:
    return not (key.startswith(SYSTEM) or key in MANAGED or key.startswith("promotion_"))


def stage_for(sv: SourceVersion, settings: Settings) -> str:
    """The `stage` tag if it names a stage, else MLflow's legacy stage if one matches (any case), else initial."""
    by_lower = {s.lower(): s for s in settings.stages}
    for candidate in (sv.tags.get("stage"), sv.current_stage):
        if candidate and candidate.lower() in by_lower:
            return candidate if candidate in settings.stages else by_lower[candidate.lower()]
    return settings.initial


def _lineage(tags: dict[str, str]) -> Lineage:
    return Lineage(model_type=tags.get("model_type") or "base", enhancement_type=tags.get("enhancement_type") or None,
                   enhancement_timestamp=tags.get("enhancement_timestamp") or None,
                   previous_timesteps=_count(tags.get("previous_timesteps")),
                   total_timesteps=_count(tags.get("total_timesteps")))


def _count(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _notes(sv: SourceVersion, shown: str, run: SourceRun) -> str:
    """Provenance: where it came from, MLflow's legacy stage and the tags mlreg manages, as they were."""
    lines = [f"Imported from MLflow {shown}, model version {sv.number} (source {mask(sv.source)})."]
    if sv.current_stage and sv.current_stage != "None":
        lines.append(f"MLflow stage: {sv.current_stage}.")
    kept = {k: v for k, v in sorted(sv.tags.items()) if not k.startswith(SYSTEM) and not _human(k)}
    if kept:
        lines.append("MLflow tags mlreg manages, as they were: " + "; ".join(f"{k}={v}" for k, v in kept.items()))
    dropped = sorted(k for k, v in run.metrics.items() if not math.isfinite(v))
    if dropped:
        lines.append(f"Metrics not imported (not finite): {', '.join(dropped)}.")
    if sv.run_id and sv.run is None:
        lines.append(f"Run {sv.run_id} was not found in MLflow.")
    return "\n".join(lines)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _link_bases(plan: ImportPlan, store: Store) -> None:
    """`base_model_run_id` tags -> lineage.base, when the base's run is a version's run (imported or in git)."""
    wanted = [(r, sv.tags["base_model_run_id"]) for r, sv in plan.versions if sv.tags.get("base_model_run_id")]
    if not wanted:
        return
    by_run = {v.run.mlflow_run_id: (v.name, v.version) for n in store.model_names()
              for v in store.versions(n, validate=False) if v.run.mlflow_run_id}
    by_run |= {r.run.mlflow_run_id: (r.name, r.version) for r in plan.records if r.run.mlflow_run_id}
    records = {(r.name, r.version): r for r in plan.records}
    for r, run_id in wanted:
        base = by_run.get(run_id)
        if base is None or _reaches(records, base, (r.name, r.version)):
            plan.notes.append(f"{r.name} v{r.version}: base_model_run_id {run_id} names no other version's run; "
                              "lineage.base not set")
            continue
        r.lineage.base = Base(*base)
        if base[0] != r.name:
            _add_derived(plan, store, base[0], r.name)


def _reaches(records: dict, start: tuple[str, int], target: tuple[str, int]) -> bool:
    """Following bases from `start` arrives at `target` (linking would make a cycle)."""
    seen, cur = set(), start
    while cur and cur not in seen:
        if cur == target:
            return True
        seen.add(cur)
        rec = records.get(cur)
        cur = (rec.lineage.base.model, rec.lineage.base.version) if rec and rec.lineage.base else None
    return False


def _add_derived(plan: ImportPlan, store: Store, base_model: str, name: str) -> None:
    """Record `name` in the base model's derived_models (its model.yaml is written too)."""
    model = next((m for m in plan.models if m.name == base_model), None)
    if model is None:
        model = store.model(base_model)
        plan.models.append(model)
    if name not in model.derived_models:
        model.derived_models.append(name)


def _one_holder(plan: ImportPlan, store: Store, settings: Settings, pinned: dict[tuple[str, str], int],
                at: str) -> None:
    """An exclusive stage keeps one holder: git's, else the one its MLflow alias names, else the highest imported
    version; the others are demoted."""
    for stage, spec in settings.stages.items():
        if not spec.exclusive:
            continue
        claims: dict[str, list[Version]] = {}
        for r in plan.records:
            if r.stage == stage:
                claims.setdefault(r.name, []).append(r)
        for name, recs in claims.items():
            held = [v.version for v in store.versions(name, validate=False) if v.stage == stage]
            keeper = held[-1] if held else pinned.get((name, stage), max(r.version for r in recs))
            for r in recs:
                if r.version != keeper:
                    _set_stage(r, spec.demote_to or settings.initial, at)
                    plan.notes.append(f"{name} v{r.version}: {stage!r} is exclusive and v{keeper} holds it; "
                                      f"imported as {r.stage!r}")


# -- fetching and the change set ---------------------------------------------------------------------
def fetch_artifacts(io: Any, plan: ImportPlan, tmp: Path, external: bool, progress: Progress,
                    store: str | None = None) -> dict[str, Any]:
    """Download each version's files: kept under `tmp` for the commit, or (external) hashed and discarded. With an
    object `store`, files already in S3 stay there (recorded by URI) and the others are uploaded to the store."""
    from . import mlflow_io

    files: dict[str, Any] = {}
    for i, (r, sv) in enumerate(plan.versions):
        progress(f"{r.name} v{r.version}", len(plan.versions))
        location, local = mlflow_io.download_version(io, r.name, r.version, sv.source, tmp / str(i))
        pairs = _local_files(local)
        if store and pairs:
            r.artifacts = _store_backed(r, location, local, pairs, store)
            continue
        if not external and any(rel == VERSION_FILE for rel, _ in pairs):  # the record's own name is taken
            pairs = [(f"model/{rel}", p) for rel, p in pairs]
        vdir = f"{REGISTRY_DIR}/{r.name}/{version_dirname(r.version)}"
        for rel, path in pairs:
            r.artifacts.append(_artifact(path, rel, location if local and local.is_file() else None, location,
                                         external))
            if not external:
                files[f"{vdir}/{rel}"] = path
        if external:
            shutil.rmtree(tmp / str(i), ignore_errors=True)
        if not pairs:
            plan.notes.append(f"{r.name} v{r.version}: no files at {mask(location)}")
    return files


def _store_backed(r: Version, location: str, local: Path, pairs: list[tuple[str, Path]], store: str) -> list[Artifact]:
    """Stored artifacts of one imported version: an S3 location is kept where it is (the download only hashed it);
    files from anywhere else go to `<store>/<model>/v<N>/`."""
    from ..objstore import file_digests
    from ..uploads import upload_version, version_uri

    if location.startswith("s3://"):
        base = location.rstrip("/")
        if local.is_file():  # the source names one file
            base = base.rsplit("/", 1)[0]
        return [Artifact(sha256=(d := file_digests(path, False))[1], size=d[0], path=rel, uri=f"{base}/{rel}")
                for rel, path in pairs]
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
    from ..runmeta import digest

    size, sha = path.stat().st_size, digest(path)
    if not external:
        return Artifact(sha256=sha, size=size, path=rel)
    return Artifact(sha256=sha, size=size, uri=file_uri or f"{location.rstrip('/')}/{rel}")


def change_set(plan: ImportPlan, store: Store, files: dict[str, Any], shown: str) -> gitops.ChangeSet:
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
    shown_names = ", ".join(names[:_SUBJECT_NAMES]) + (f" and {len(names) - _SUBJECT_NAMES} more"
                                                        if len(names) > _SUBJECT_NAMES else "")
    subject = f"import {len(plan.records)} version(s) of {shown_names} from MLflow"
    lines = [f"From MLflow {shown}."]
    lines += [f"{r.name} v{r.version} <- MLflow model version {r.version}"
              + (f" (run {r.run.mlflow_run_id})" if r.run.mlflow_run_id else "") for r in plan.records]
    body = "\n".join(lines + plan.notes)
    return gitops.ChangeSet("import", names[0] if len(names) == 1 else "", None, subject, files, folders, body=body)
