"""Desired (from git) vs actual (read from MLflow in bulk) -> a plan of writes plus a report. Pure data, no I/O."""

from __future__ import annotations

import re

from .actual import PLACEHOLDER, Actual, HaveModel, HaveRun, HaveVersion
from .desired import (
    ALIASES,
    COMMIT,
    DERIVED,
    DIGEST,
    EXTERNAL_FILE,
    LEGACY,
    LINKED,
    REGISTRY,
    SYNC,
    WantModel,
    WantRun,
    WantVersion,
    linked_tags,
    same_digest,
)
from .ops import ModelPlan, Options, RunOp, SyncPlan, VersionOp
from .tagdiff import managed, report_foreign, stale, summary, tag_diff

_RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+)$", re.IGNORECASE)


def plan(wants: list[WantModel], actual: Actual, opts: Options) -> SyncPlan:
    """The writes that make MLflow match git, and a report line for every object looked at."""
    run_ids = known_run_ids(actual)
    models = [plan_model(w, actual.models.get(w.name), actual, run_ids, opts) for w in wants]
    return SyncPlan(models + [plan_removed(have, opts) for _, have in sorted(actual.orphans.items())])


def plan_removed(have: HaveModel, opts: Options) -> ModelPlan:
    """A registered model this registry made that git no longer has: `extra`, or with --prune deleted with its
    runs, but only when mlreg made every version of it."""
    mp = ModelPlan(have.name)
    runs = [r.run_id for rs in have.runs.values() for r in rs if not r.deleted]
    if not all(hv.owned for hv in have.versions.values()):
        mp.add("model", have.name, "extra", "removed from git; holds versions mlreg did not make, so it stays")
    elif opts.prune:
        mp.delete_model, mp.delete_runs = True, runs
        mp.add("model", have.name, "prune", f"removed from git ({len(have.versions)} version(s), {len(runs)} run(s))")
    else:
        mp.add("model", have.name, "extra", "removed from git; --prune removes it")
    return mp


def known_run_ids(actual: Actual) -> dict[tuple[str, int], str]:
    """(model, version) -> the run MLflow already has for it (base_model_run_id of enhanced versions)."""
    return {
        (m.name, n): rid
        for m in actual.models.values()
        for n in set(m.versions) | set(m.runs)
        if (rid := m.run_id_of(n))
    }


def plan_model(want: WantModel, have: HaveModel | None, actual: Actual, run_ids: dict, opts: Options) -> ModelPlan:
    """The plan for one registered model."""
    mp = ModelPlan(want.name)
    exists = have is not None and have.exists
    have = have or HaveModel(want.name, "", exists=False)
    claimed = _claimed(have)
    foreign = exists and _foreign(want, have)
    _plan_model_record(mp, want, have, exists, foreign, opts)
    creatable, stuck = max(have.versions, default=0) + 1, None
    for n, wv in sorted(want.versions.items()):
        hv = have.versions.get(n)
        if hv is None and stuck is not None:
            mp.add("version", wv.ref, "conflict", f"waits for v{stuck}, which cannot be created")
        elif hv is None:
            if _plan_new_version(mp, wv, have, actual, creatable, opts):
                creatable = n + 1
            else:
                stuck = n
        elif not hv.owned and not adoptable(wv, hv):
            mp.add("version", wv.ref, "conflict", "version number taken by a model version mlreg did not create")
        else:
            _plan_existing_version(mp, wv, hv, have, run_ids, opts)
    _plan_leftovers(mp, want, have, opts)
    _plan_aliases(mp, want, have, claimed, foreign, opts)
    return mp


def _claimed(have: HaveModel) -> dict[str, int | None]:
    """Aliases mlreg set, with the version it set each to (None: an older claim tag without versions)."""
    out: dict[str, int | None] = {}
    for entry in filter(None, have.tags.get(ALIASES, "").split(",")):
        alias, _, number = entry.partition("=")
        out[alias] = int(number) if number.isdigit() else None
    return out


def _claim(aliases: dict[str, int]) -> str:
    return ",".join(f"{a}={n}" for a, n in sorted(aliases.items()))


def _foreign(want: WantModel, have: HaveModel) -> bool:
    """True when MLflow's versions of a number git uses were not made for this registry's versions (another
    registry's, or a hand-made model): mlreg then edits nothing of the registered model itself."""
    theirs = have.tags.get(REGISTRY)
    if theirs and theirs != want.tags.get(REGISTRY):  # made by another registry: foreign, unless git explains
        real = {n: hv for n, hv in have.versions.items() if PLACEHOLDER not in hv.tags}  # it all (an import)
        return not (real and all(n in want.versions and adoptable(want.versions[n], hv) for n, hv in real.items()))
    for n, hv in have.versions.items():
        wv = want.versions.get(n)
        if wv is None or PLACEHOLDER in hv.tags or adoptable(wv, hv):
            continue
        if not hv.owned or hv.run_id not in {r.run_id for r in have.runs.get(n, [])}:
            return True
    return False


def _plan_model_record(
    mp: ModelPlan, want: WantModel, have: HaveModel, exists: bool, foreign: bool, opts: Options
) -> None:
    """Create the registered model, or update description/tags (hand edits are conflicts). The alias claim tag
    is written last, by _plan_aliases."""
    if not exists:
        mp.create, mp.description = True, want.description
        mp.set_tags = dict(want.tags) | {SYNC: want.marker(want.tags)}
        mp.add("model", want.name, "create")
        return
    diff = tag_diff(want.tags, have.tags, managed(have.mark, have.tags), ignore=(ALIASES,), legacy=(DIGEST,))
    report_foreign(mp, "model", want.name, diff.foreign)
    desc = want.description if (have.description or "") != want.description else None
    mark = want.marker(want.tags)
    if not (diff.changes or desc is not None or stale(mark, have.mark)):
        mp.add("model", want.name, "unchanged")
        return
    set_tags = diff.set_tags | ({SYNC: mark} if have.tags.get(SYNC) != mark else {})
    what = summary(set_tags, diff.del_tags + diff.drop_tags, desc is not None)
    if foreign:
        mp.add(
            "model",
            want.name,
            "conflict",
            f"differs ({what}), and its versions in MLflow were not made by "
            "this registry; mlreg does not edit it, even with --force",
        )
        return
    hand = have.digest == want.digest and bool(set(diff.set_tags) - {REGISTRY} or diff.del_tags or desc is not None)
    if hand and not opts.force:
        mp.add("model", want.name, "conflict", f"edited in MLflow ({what}); --force overwrites")
        return
    mp.description, mp.set_tags, mp.del_tags, mp.drop_tags = desc, set_tags, diff.del_tags, diff.drop_tags
    mp.add("model", want.name, "update", ("overwrite hand edit: " if hand else "") + what)


def _plan_new_version(
    mp: ModelPlan, wv: WantVersion, have: HaveModel, actual: Actual, creatable: int, opts: Options
) -> bool:
    """A version MLflow lacks: its run (reuse, finish or create), then the model version. False: cannot."""
    if wv.number < creatable:
        mp.add(
            "version",
            wv.ref,
            "conflict",
            f"MLflow already holds higher version numbers (up to {creatable - 1}); v{wv.number} cannot be created",
        )
        return False
    op = VersionOp(wv.model, wv.number, True, wv, placeholders=wv.number - creatable)
    training = actual.training_runs.get(wv.mlflow_run_id or "")
    if training is not None and not training.deleted:
        op.run_id, op.artifact_uri = training.run_id, training.artifact_uri
        mp.add("run", wv.ref, "unchanged", f"training run {training.run_id}")
    elif not _plan_run(mp, wv, have.runs.get(wv.number, []), None, op, opts.force):
        mp.add("version", wv.ref, "conflict", "its run is in conflict")
        return False
    mp.versions.append(op)
    mp.add("version", wv.ref, "create", f"after {op.placeholders} skipped number(s)" if op.placeholders else "")
    return True


def _pick(runs: list[HaveRun], used: str | None) -> HaveRun | None:
    """The run a version should use: the one its model version names, else a complete live one."""
    ordered = sorted(runs, key=lambda r: (r.run_id != used, r.deleted, not r.complete, r.run_id))
    return ordered[0] if ordered else None


def _plan_run(
    mp: ModelPlan, wv: WantVersion, runs: list[HaveRun], used: str | None, op: VersionOp | None, force: bool
) -> bool:
    """The mlreg run of a version: create it, finish an interrupted one, or fix its tags/metrics. False: conflict."""
    r = _pick(runs, used)
    if r is None:
        mp.runs.append(RunOp(wv.model, wv.number, wv.run, finish=True, params=wv.run.params, metrics=wv.run.metrics))
        mp.add("run", wv.ref, "create")
        return True
    diff = tag_diff(wv.run.tags, r.tags, managed(r.mark, r.tags), legacy=(*LEGACY, REGISTRY))
    report_foreign(mp, "run", wv.ref, diff.foreign)
    mark = wv.run.marker(wv.run.tags)
    params = {k: v for k, v in wv.run.params.items() if k not in r.params}
    bad = sorted(k for k, v in wv.run.params.items() if k in r.params and r.params[k] != v)
    metrics = {k: v for k, v in wv.run.metrics.items() if r.metrics.get(k) != v}
    files = (r.mark or {}).get("files")
    if bad or (files is not None and files != wv.run.files_digest):
        mp.stale_runs.append(r.run_id)
        what = f"other values for params {', '.join(bad)}" if bad else "other files"
        mp.add(
            "run",
            wv.ref,
            "conflict",
            f"run {r.run_id} has {what} (synced from another commit); MLflow "
            "params and files cannot change: --force re-creates it",
        )
        return False
    upload = _missing_files(wv.run, r) if r.complete else []
    if r.complete and not (diff.changes or stale(mark, r.mark) or params or metrics or upload):
        if op is not None:  # nothing to write: the version can use the run at once
            op.run_id, op.artifact_uri = r.run_id, r.artifact_uri
        mp.add("run", wv.ref, "unchanged")
        return True
    set_tags = diff.set_tags | ({SYNC: mark} if r.tags.get(SYNC) != mark else {})
    hand = r.deleted or (
        r.complete and r.digest == wv.run.digest and bool(diff.set_tags or diff.del_tags or params or metrics)
    )
    what = (
        "deleted in MLflow"
        if r.deleted
        else (
            "unfinished: finish it"
            if not r.complete
            else summary(set_tags, diff.del_tags + diff.drop_tags, False, metrics)
        )
    )
    if upload:
        missing = "artifact store lacks " + ", ".join(rel for _, rel in upload) + ": upload again"
        what = f"{what}; {missing}" if what else missing
    if hand and not force:
        mp.add("run", wv.ref, "conflict", f"run {r.run_id} {what}; --force overwrites")
        return False
    mp.runs.append(
        RunOp(
            wv.model,
            wv.number,
            wv.run,
            r.run_id,
            r.artifact_uri,
            r.deleted,
            not r.complete,
            params,
            metrics,
            set_tags,
            diff.del_tags,
            upload,
            diff.drop_tags,
        )
    )
    mp.add("run", wv.ref, "update", ("overwrite hand edit: " if hand else "") + what)
    return True


def _plan_existing_version(
    mp: ModelPlan, wv: WantVersion, hv: HaveVersion, have: HaveModel, run_ids: dict, opts: Options
) -> None:
    """An mlreg-owned version MLflow has: check its run, then diff tags and description."""
    if not (wv.mlflow_run_id and hv.run_id == wv.mlflow_run_id):
        runs = have.runs.get(wv.number, [])
        if hv.run_id not in {r.run_id for r in runs}:
            mp.add(
                "version", wv.ref, "conflict", f"points at run {hv.run_id}, which mlreg did not make for v{wv.number}"
            )
            return
        _plan_run(mp, wv, runs, hv.run_id, None, opts.force)
    want_tags = dict(wv.tags)
    base_run = run_ids.get(wv.base) if wv.base else None
    if base_run:
        want_tags |= linked_tags(base_run, wv.base_subpath)
    ignore = () if base_run or not wv.base else LINKED
    diff = tag_diff(want_tags, hv.tags, managed(hv.mark, hv.tags, DERIVED), ignore=ignore, legacy=(DIGEST, COMMIT))
    report_foreign(mp, "version", wv.ref, diff.foreign)
    mark = wv.marker(set(want_tags) | {k for k in ignore if k in hv.tags})
    desc = wv.description if (hv.description or "") != wv.description else None
    if not (diff.changes or desc is not None or hv.tags.get(SYNC) != mark):  # an earlier sync's JSON: rewritten
        mp.add("version", wv.ref, "unchanged")
        return
    set_tags = diff.set_tags | ({SYNC: mark} if hv.tags.get(SYNC) != mark else {})
    # same record, yet different: edited in MLflow (a base run id filled in late is not an edit)
    hand = same_digest(hv.digest, wv.digest) and bool(set(diff.set_tags) - set(LINKED) or diff.del_tags or desc)
    what = summary(set_tags, diff.del_tags + diff.drop_tags, desc is not None)
    if hand and not opts.force:
        mp.add("version", wv.ref, "conflict", f"edited in MLflow ({what}); --force overwrites")
        return
    mp.versions.append(
        VersionOp(
            wv.model,
            wv.number,
            False,
            wv,
            hv.run_id,
            description=desc,
            set_tags=set_tags,
            del_tags=diff.del_tags,
            drop_tags=diff.drop_tags,
        )
    )
    mp.add("version", wv.ref, "update", ("overwrite hand edit: " if hand else "") + what)


def _plan_leftovers(mp: ModelPlan, want: WantModel, have: HaveModel, opts: Options) -> None:
    """Versions and runs MLflow has but git does not: placeholders go, mlreg's go with --prune, others stay."""
    for n, hv in sorted(have.versions.items()):
        if n in want.versions:
            continue
        ref = f"{want.name}/{n}"
        if PLACEHOLDER in hv.tags:
            mp.delete_versions.append(n)
            mp.add("version", ref, "prune", "leftover placeholder")
        elif not hv.owned:
            mp.add("version", ref, "kept" if opts.force else "conflict", "not created by mlreg and not in git")
        elif opts.prune:
            mp.delete_versions.append(n)
            mp.add("version", ref, "prune", "not in git")
        else:
            mp.add("version", ref, "extra", "not in git; --prune removes it")
    for n, runs in sorted(have.runs.items()):
        live = [r for r in runs if not r.deleted]
        if n in want.versions:
            keep = _pick(runs, have.versions[n].run_id if n in have.versions else None)
            spare, why = [r for r in live if keep is None or r.run_id != keep.run_id], "duplicate"
        else:
            spare, why = live, "not in git"
        for r in spare:
            ref = f"{want.name}/{n}"
            if opts.prune:
                mp.delete_runs.append(r.run_id)
                mp.add("run", ref, "prune", f"run {r.run_id}: {why}")
            else:
                mp.add("run", ref, "extra", f"run {r.run_id}: {why}; --prune removes it")


def _plan_aliases(
    mp: ModelPlan, want: WantModel, have: HaveModel, claimed: dict[str, int | None], foreign: bool, opts: Options
) -> None:
    """Set aliases that git moved or added; drop the ones mlreg set that git no longer has. An alias moved in
    MLflow since mlreg set it is a hand edit: a conflict unless --force."""
    blocked = {int(i.name.rsplit("/", 1)[1]) for i in mp.items if i.kind == "version" and i.status == "conflict"}
    for alias, n in want.aliases.items():
        ref, cur = f"{want.name}@{alias}", have.aliases.get(alias)
        mine = alias in claimed and claimed[alias] in (None, cur)  # still where mlreg put it
        if _RESERVED_ALIAS.match(alias):
            mp.add("alias", ref, "conflict", f"MLflow reserves the alias name {alias!r}")
        elif n not in want.versions or n in blocked:
            mp.add("alias", ref, "conflict", f"points at v{n}, which cannot be synced")
        elif cur == n:
            mp.add("alias", ref, "unchanged", f"-> v{n}")
        elif foreign:
            mp.add("alias", ref, "conflict", f"-> v{cur} in MLflow, whose versions were not made by this registry")
        elif cur is None or mine or opts.force:
            mp.set_aliases[alias] = n
            mp.add(
                "alias",
                ref,
                "create" if cur is None else "update",
                ("" if cur is None or mine else "overwrite hand edit: ") + (f"v{cur} -> v{n}" if cur else f"-> v{n}"),
            )
        else:
            mp.add("alias", ref, "conflict", f"set to v{cur} in MLflow by hand; git says v{n}; --force overwrites")
    for alias, cur in sorted(have.aliases.items()):
        if alias in want.aliases:
            continue
        ref = f"{want.name}@{alias}"
        if alias in claimed and not foreign and (claimed[alias] in (None, cur) or opts.force):
            mp.del_aliases.append(alias)
            mp.add("alias", ref, "update", f"removed in git (was v{cur})")
        elif alias in claimed and not foreign:
            mp.add("alias", ref, "conflict", f"-> v{cur}: moved in MLflow by hand, removed in git; --force removes it")
        else:  # someone's own alias (a canary, say): git does not manage it, so it is not sync's to judge
            mp.add("alias", ref, "foreign", f"-> v{cur}: set in MLflow, not managed by git; left alone")
    claim = _claim(want.aliases)
    if not foreign and have.tags.get(ALIASES, "") != claim:
        mp.final_claim = claim


def _missing_files(want: WantRun, r: HaveRun) -> list[tuple]:
    """Files of the version the artifact store lacks, or holds with another size (only when it was listed)."""
    if r.files is None:
        return []
    missing: list[tuple] = [(local, rel) for local, rel in want.files if r.files.get(rel) != want.sizes.get(rel)]
    if want.external and EXTERNAL_FILE not in r.files:
        missing.append((None, EXTERNAL_FILE))
    return missing


def adoptable(wv: WantVersion, hv: HaveVersion) -> bool:
    """A version mlreg did not create that git explains: made from the very run git records as the version's
    training run (`run.mlflow_run_id`), as `mlreg import mlflow` records it. Sync adopts it: adds mlreg's tags."""
    return bool(wv.mlflow_run_id) and hv.run_id == wv.mlflow_run_id
