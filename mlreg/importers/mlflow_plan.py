"""Plan an import from MLflow: its registered models and versions (read through the adapter) as model.yaml files
and version records. No I/O but reading the registry.

Version N in MLflow becomes registry/<model>/v<N>: numbers are kept, so the registry's rule (versions
contiguous from 1) turns a gap left by a deleted MLflow version into an error rather than a renumbering.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from ..core.files import RegistryFiles
from ..core.records import Base, Lineage, Model, Run, Settings, StageChange, Version
from ..errors import MlregError
from ..sync.desired import LINKED, promotion_tags
from ..sync.mlflow_io import SourceModel, SourceRun, SourceVersion
from ..sync.uri import mask

SYSTEM = ("mlflow.", "mlreg.")  # MLflow's own tags and mlreg's bookkeeping: never imported as tags
# version tags `mlreg sync` derives from the record: read into stage/lineage (and notes), not into `tags`
MANAGED = frozenset(
    {
        "stage",
        "version_type",
        "model_type",
        "enhancement_type",
        "enhancement_timestamp",
        "previous_timesteps",
        "total_timesteps",
        "last_promoted_at",
        "demotion_reason",
        "demotion_timestamp",
        "created_by",  # sync's copy of the record's created_by (MLflow's own user_id cannot be set)
        *LINKED,
    }
)
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,254}$")


@dataclass
class ImportPlan:
    """model.yaml files to write (new models, bases gaining derived models) and new versions, in order."""

    models: list[Model] = field(default_factory=list)
    versions: list[tuple[Version, SourceVersion]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[Version]:
        return [r for r, _ in self.versions]


def plan_import(
    sources: list[SourceModel], store: RegistryFiles, settings: Settings, at: str, by: str, shown: str
) -> ImportPlan:
    """The model.yaml files and version records to write; a gap in version numbers is an error naming it."""
    plan = ImportPlan()
    problems: list[str] = []
    pinned: dict[tuple[str, str], int] = {}  # (model, stage) -> the version an MLflow alias of that stage names
    for sm in sources:
        have = store.version_numbers(sm.name)
        numbers = _new_numbers(sm, have, problems)
        if numbers is None:
            continue
        if not store.has_model(sm.name):
            plan.models.append(_model(sm, settings, plan.notes, pinned))
        elif not numbers:
            plan.notes.append(
                f"{sm.name}: skipped, already in git (v1-v{have[-1]})"
                if have
                else f"{sm.name}: skipped, already in git (no versions in MLflow)"
            )
            continue
        elif have:
            plan.notes.append(
                f"{sm.name}: v1-v{have[-1]} already in git; importing version(s) {span(numbers)} "
                "(model.yaml kept as it is in git)"
            )
        for sv in sm.versions:
            if sv.number in numbers:
                plan.versions.append((_record(sm.name, sv, settings, at, by, shown), sv))
                if not sv.run_id:
                    plan.notes.append(
                        f"{sm.name} v{sv.number}: no run in MLflow, so `mlreg sync` to this server "
                        "will report it as a conflict (sync adopts versions whose run git records)"
                    )
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
    problems.append(
        f"MLflow model {sm.name!r} has versions {span(numbers)}: {span(missing)} missing (deleted in "
        f"MLflow?); the registry keeps MLflow's numbers and needs them contiguous{after}, so this model "
        "cannot be imported (import the others with --model NAME)"
    )
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
                plan.notes.append(
                    f"{name} v{n}: imported in stage {stage!r}, as MLflow's alias for that stage "
                    f"names it (was {r.stage!r})"
                )
                _set_stage(r, stage, at)


def _record(name: str, sv: SourceVersion, settings: Settings, at: str, by: str, shown: str) -> Version:
    """The version record (artifacts come later): run data, human tags, stage, lineage, provenance notes."""
    run = sv.run or SourceRun(sv.run_id or "", None, None, None)
    tags = {k: v for k, v in run.tags.items() if _human(k)} | {k: v for k, v in sv.tags.items() if _human(k)}
    stage = stage_for(sv, settings)
    return Version(
        name=name,
        version=sv.number,
        created_at=_iso(sv.created_ms) or at,
        created_by=by,
        stage=stage,
        description=sv.description,
        run=Run(
            experiment=run.experiment, name=run.name, mlflow_run_id=sv.run_id, training_timestamp=_iso(run.start_ms)
        ),
        params=dict(run.params),
        metrics={k: float(v) for k, v in run.metrics.items() if math.isfinite(v)},
        tags=tags,
        lineage=_lineage(sv.tags),
        stage_history=rebuilt_history(
            sv.tags, stage, at, by, f"imported from MLflow {shown} (model version {sv.number})"
        ),
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
        chain.append(
            StageChange(
                to=stage, at=demoted, by=IMPORTED_BY, action="demote", reason=tags.get("demotion_reason") or None
            )
        )
        chain.sort(key=lambda c: c.at)  # stable: same-minute promotions keep their suffix order
    start = (chain[0].from_ if chain else None) or stage
    out = [
        StageChange(to=start, at=min([at, *(c.at for c in chain[:1])]), by=by, action="import", reason=reason),
        *chain,
    ]
    for i, c in enumerate(out):  # a demotion leaves the stage before it for the one the next change starts from
        if c.action == "demote":
            c.from_ = out[i - 1].to
            c.to = next((n.from_ for n in out[i + 1 :] if n.from_), stage)
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
            found.append(
                (
                    (when, int(m.group(3) or 1)),
                    StageChange(
                        to=parts[1].strip(),
                        at=when,
                        by=IMPORTED_BY,
                        action="promote",
                        from_=None if src == "none" else src,
                    ),
                )
            )
    return [c for _, c in sorted(found, key=lambda kc: kc[0])]


def _check_history(plan: ImportPlan) -> None:
    """Note each version whose promotion/demotion tags its rebuilt stage_history does not reproduce exactly."""
    for r, sv in plan.versions:
        have = {k: v for k, v in sv.tags.items() if k in HISTORY_TAGS or k.startswith("promotion_")}
        derived = promotion_tags(r.stage_history)
        if derived != have:
            diff = sorted(set(have.items()) ^ set(derived.items()))
            plan.notes.append(
                f"{r.name} v{r.version}: stage_history rebuilt from MLflow's promotion tags does not "
                f"reproduce {', '.join(dict.fromkeys(k for k, _ in diff))}; `mlreg sync` will rewrite "
                "them (the originals are in the version's notes)"
            )


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
    return Lineage(
        model_type=tags.get("model_type") or "base",
        enhancement_type=tags.get("enhancement_type") or None,
        enhancement_timestamp=tags.get("enhancement_timestamp") or None,
        previous_timesteps=_count(tags.get("previous_timesteps")),
        total_timesteps=_count(tags.get("total_timesteps")),
    )


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
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _link_bases(plan: ImportPlan, store: RegistryFiles) -> None:
    """`base_model_run_id` tags -> lineage.base, when the base's run is a version's run (imported or in git)."""
    wanted = [(r, sv.tags["base_model_run_id"]) for r, sv in plan.versions if sv.tags.get("base_model_run_id")]
    if not wanted:
        return
    by_run = {
        v.run.mlflow_run_id: (v.name, v.version)
        for n in store.model_names()
        for v in store.versions(n, validate=False)
        if v.run.mlflow_run_id
    }
    by_run |= {r.run.mlflow_run_id: (r.name, r.version) for r in plan.records if r.run.mlflow_run_id}
    records = {(r.name, r.version): r for r in plan.records}
    for r, run_id in wanted:
        base = by_run.get(run_id)
        if base is None or _reaches(records, base, (r.name, r.version)):
            plan.notes.append(
                f"{r.name} v{r.version}: base_model_run_id {run_id} names no other version's run; lineage.base not set"
            )
            continue
        r.lineage.base = Base(*base)
        if base[0] != r.name:
            _add_derived(plan, store, base[0], r.name)


def _reaches(records: dict, start: tuple[str, int], target: tuple[str, int]) -> bool:
    """Following bases from `start` arrives at `target` (linking would make a cycle)."""
    seen: set[tuple[str, int]] = set()
    cur: tuple[str, int] | None = start
    while cur and cur not in seen:
        if cur == target:
            return True
        seen.add(cur)
        rec = records.get(cur)
        cur = (rec.lineage.base.model, rec.lineage.base.version) if rec and rec.lineage.base else None
    return False


def _add_derived(plan: ImportPlan, store: RegistryFiles, base_model: str, name: str) -> None:
    """Record `name` in the base model's derived_models (its model.yaml is written too)."""
    model = next((m for m in plan.models if m.name == base_model), None)
    if model is None:
        model = store.model(base_model)
        plan.models.append(model)
    if name not in model.derived_models:
        model.derived_models.append(name)


def _one_holder(
    plan: ImportPlan, store: RegistryFiles, settings: Settings, pinned: dict[tuple[str, str], int], at: str
) -> None:
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
                    plan.notes.append(
                        f"{name} v{r.version}: {stage!r} is exclusive and v{keeper} holds it; imported as {r.stage!r}"
                    )
