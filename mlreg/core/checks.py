"""`validate`: every schema and invariant problem of a registry tree, each naming file and JSON path.

The registry and each model folder are checked here; each version folder in `version_checks`. A big
registry's models are shared among worker processes, and the answer is put back in name order.
"""

from __future__ import annotations

import os
from operator import attrgetter
from pathlib import Path
from typing import Any

from ..errors import MlregError
from . import forked, lifecycle, schemas
from .files import MODEL_FILE, REGISTRY_DIR, SETTINGS_FILE, VERSION_FILE, RegistryFiles, parse_version_dirname
from .records import Hasher, Settings, Version
from .scan import collisions, name_problem
from .version_checks import Memo, Node, artifact_problems, load_checked, symlink_problem, version_problems

__all__ = ["Node", "artifact_problems", "lineage_problems", "name_collisions", "registry_problems", "symlink_problem"]

Checked = tuple[list[str], list[Node]]  # one model's problems, and its versions as lineage checks see them


def registry_problems(
    store: RegistryFiles,
    hasher: Hasher | None,
    rules: list[Settings] | None = None,
    jobs: int | None = None,
    memo: Memo | None = None,
) -> list[str]:
    """Every problem found in the registry (empty when valid).

    `hasher` gives an in-repo artifact's digest (the caller's: digests.py keys them by git blob id), None
    skips the digest check. `rules`: the settings to judge by (default: the tree's own mlreg.yaml;
    the pull-request gate passes the base's, and the head's too when a change edits them). `jobs`: how
    many processes check the models (default: one per CPU on a big registry). `memo`: the facts of
    metadata files read by an earlier run (see version_checks). The answer is the same whatever the last two.
    """
    out: list[str] = []
    own = _settings(store, out)
    rules = rules or [own]
    slots: list[list[str] | str] = []  # per registry/ entry, in name order: its problems, or a model to check
    names: list[str] = []
    reg = store.registry_dir
    if os.path.islink(reg):
        out.append(symlink_problem(REGISTRY_DIR, os.readlink(reg)))
    elif reg.is_dir():
        for entry in _entries(reg):
            rel = f"{REGISTRY_DIR}/{entry.name}"
            if entry.is_symlink():
                slots.append([symlink_problem(rel, os.readlink(entry.path))])
            elif entry.name.startswith("."):
                continue
            elif not entry.is_dir():
                slots.append([f"{rel}: unexpected file; expected only model folders in registry/"])
            elif why := name_problem(entry.name):
                slots.append([f"{rel}: invalid model folder name: {why}"])
            else:
                names.append(entry.name)
                slots.append(entry.name)
    checked = check_models(store, names, rules, hasher, jobs, memo)
    records: list[Node] = []
    for slot in slots:
        if isinstance(slot, str):
            found, nodes = checked[slot]
            out += found
            records += nodes
        else:
            out += slot
    out += name_collisions(names)
    out += lineage_problems(records, store)
    return list(dict.fromkeys(out))  # judged by two rule sets, a problem may be found twice


def check_models(
    store: RegistryFiles,
    names: list[str],
    rules: list[Settings],
    hasher: Hasher | None,
    jobs: int | None = None,
    memo: Memo | None = None,
) -> dict[str, Checked]:
    """Each model's problems and versions. On a big registry the models are shared among worker processes
    (forked: they inherit everything read so far, and only names and answers cross between processes).

    A hasher or memo that learns (digests.py's, the facts cache) says so with `learned()` -> {key: value}
    and takes back what the workers learned with `learn(...)`, so the parent keeps it."""
    jobs = _auto_jobs(len(names)) if jobs is None else jobs
    if jobs <= 1 or len(names) < 2 or not forked.may_fork():  # the pool forks its workers before its threads
        return {name: _one_model(store, name, rules, hasher, memo) for name in names}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    chunks = [names[i :: jobs * 4] for i in range(jobs * 4)]  # interleaved: big and small models mix
    _JOB.update(store=store, rules=rules, hasher=hasher, memo=memo)
    found: dict[str, Checked] = {}
    try:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            for results, learned in pool.map(_chunk, chunks):
                found.update(results)
                for keeper, new in zip((hasher, memo), learned, strict=True):
                    if new:
                        keeper.learn(new)  # type: ignore[union-attr]
    except BrokenProcessPool:  # a worker died (killed, out of memory): what it had is checked here
        pass
    finally:
        _JOB.clear()
    return {name: found[name] if name in found else _one_model(store, name, rules, hasher, memo) for name in names}


_JOB: dict[str, Any] = {}  # what forked workers inherit: nothing is pickled on the way in but model names
PARALLEL_FROM = 200  # models: below this, starting workers costs more than it saves


def _auto_jobs(models: int) -> int:
    """Workers for `models` models: one per CPU (at most 8; forked.py counts them), none for a small
    registry."""
    if models < PARALLEL_FROM:
        return 1
    return max(1, min(forked.spare_cores() + 1, 8))


def _chunk(names: list[str]) -> tuple[dict[str, Checked], tuple[dict[str, Any], dict[str, Any]]]:
    store, rules, hasher, memo = _JOB["store"], _JOB["rules"], _JOB["hasher"], _JOB["memo"]
    results = {name: _one_model(store, name, rules, hasher, memo) for name in names}
    learned: list[dict[str, Any]] = [getattr(k, "learned", dict)() for k in (hasher, memo)]
    return results, (learned[0], learned[1])


def _one_model(
    store: RegistryFiles, name: str, rules: list[Settings], hasher: Hasher | None, memo: Memo | None
) -> Checked:
    out: list[str] = []
    nodes = _model_problems(store, name, rules, out, hasher, memo)
    return out, nodes


def name_collisions(names: list[str]) -> list[str]:
    """One problem per pair of model folders that are one name ignoring case and Unicode normalisation."""
    return [
        f"{REGISTRY_DIR}/{b}: model name {b!r} collides with {a!r}: they differ only in letter case or Unicode "
        "normalisation, and Windows and macOS checkouts cannot hold both"
        for a, b in collisions(names)
    ]


def _entries(folder: Path | str) -> list[os.DirEntry]:
    with os.scandir(folder) as found:
        return sorted(found, key=_by_name)


_by_name = attrgetter("name")


def _settings(store: RegistryFiles, out: list[str]) -> Settings:
    if os.path.islink(store.root / SETTINGS_FILE):
        out.append(symlink_problem(SETTINGS_FILE, os.readlink(store.root / SETTINGS_FILE)))
        return Settings.from_dict({})
    try:
        doc = store.read_settings_doc()
    except MlregError as e:
        out.append(str(e))
        return Settings.from_dict({})
    found = schemas.problems("registry", doc, SETTINGS_FILE) if doc else []
    if found:
        out += found
        return Settings.from_dict({})
    settings = Settings.from_dict(doc)
    out += lifecycle.settings_problems(settings)
    return settings


def _model_problems(
    store: RegistryFiles, name: str, rules: list[Settings], out: list[str], hasher: Hasher | None, memo: Memo | None
) -> list[Node]:
    folder = store.registry_dir / name
    frel = f"{REGISTRY_DIR}/{name}"
    mrel = f"{frel}/{MODEL_FILE}"
    model_doc, versions, has_model_file = None, [], False
    for entry in _entries(folder):
        rel = f"{frel}/{entry.name}"
        if entry.is_symlink():
            out.append(symlink_problem(rel, os.readlink(entry.path)))
            has_model_file |= entry.name == MODEL_FILE
        elif entry.name == MODEL_FILE:
            has_model_file = True
            model_doc = _model_doc(f"{folder}/{MODEL_FILE}", mrel, out, memo)
        elif entry.name.startswith("."):
            out += _leftover(rel, entry.name)
        elif entry.is_dir() and (number := parse_version_dirname(entry.name)) is not None:
            versions.append(number)
        else:
            out.append(f"{rel}: unexpected entry; expected version folders v1, v2, ...")
    if not has_model_file:
        out.append(f"{mrel}: file not found; expected a model.yaml in every model folder")
    if model_doc and model_doc["name"] != name:
        out.append(f"{mrel}: $.name: expected {name!r} (the folder name), got {model_doc['name']!r}")
    records: list[Node] = []
    stages: dict[int, str] = {}
    for n in sorted(versions):
        v = version_problems(store, name, n, rules, out, hasher, stages, memo)
        if v:
            records.append(v)
    nums = sorted(versions)
    if nums != list(range(1, len(nums) + 1)):
        missing = sorted(set(range(1, (nums[-1] if nums else 0) + 1)) - set(nums))
        out.append(f"{frel}: versions must be contiguous from v1; missing {', '.join(f'v{m}' for m in missing)}")
    for settings in rules:
        out += _model_rule_problems(frel, mrel, model_doc, nums, stages, settings)
    return records


def _model_doc(path: str, rel: str, out: list[str], memo: Memo | None) -> dict[str, Any] | None:
    """A model.yaml's document when it passed its schema (kept in `memo` by content, as a version's facts)."""
    doc = memo.get(rel) if memo is not None else None
    if doc is None:
        doc, ok, compiled = load_checked("model", path, rel, out)
        if not ok:
            return None
        if memo is not None and compiled:
            memo.put(rel, doc)
    return doc


def _model_rule_problems(
    frel: str, mrel: str, model_doc: dict | None, nums: list[int], stages: dict[int, str], settings: Settings
) -> list[str]:
    out = []
    for alias, target in ((model_doc or {}).get("aliases") or {}).items():
        if target not in nums:
            out.append(f"{mrel}: $.aliases.{alias}: points at v{target}, which does not exist")
        if alias in lifecycle.stage_refs(settings):
            out.append(
                f"{mrel}: $.aliases.{alias}: alias is reserved for the holder of stage "
                f"{lifecycle.stage_refs(settings)[alias]!r}; expected another name"
            )
        if settings.aliases is not None and alias not in settings.aliases:
            out.append(
                f"{mrel}: $.aliases.{alias}: alias not allowed by mlreg.yaml; expected one of {settings.aliases}"
            )
    for stage, spec in settings.stages.items():
        holders = sorted(n for n, s in stages.items() if s == stage)
        if spec.exclusive and len(holders) > 1:
            out.append(
                f"{frel}: stage {stage!r} is exclusive but held by "
                f"{', '.join(f'v{h}' for h in holders)}; expected at most one"
            )
    return out


def lineage_problems(records: list[Node] | list[Version], store: RegistryFiles | None = None) -> list[str]:
    """Every base exists, and following bases never loops."""
    out = []
    bases = {}
    for v in records:
        if isinstance(v, Version):
            b = v.lineage.base
            v = Node(v.name, v.version, (b.model, b.version) if b else None)
        bases[(v.name, v.version)] = v.base
    for (name, number), base in bases.items():
        where = f"registry/{name}/v{number}/{VERSION_FILE}: $.lineage.base"
        if base and base not in bases:
            out.append(f"{where}: base {base[0]} v{base[1]} does not exist")
        seen, cur = set(), (name, number)
        while nxt := bases.get(cur):
            if cur in seen:
                out.append(f"{where}: lineage forms a cycle through {cur[0]} v{cur[1]}")
                break
            seen.add(cur)
            cur = nxt
    return out


def _leftover(rel: str, name: str) -> list[str]:
    """A temp folder or file an interrupted write left in a model folder (`.v2.tmp-*`, `.model.yaml.*.tmp`)."""
    if not (name.startswith(".v") and ".tmp-" in name) and not name.endswith(".tmp"):
        return []
    return [
        f"{rel}: left behind by an interrupted mlreg write; delete it (the next mlreg write to this model "
        "also removes it), it must never be committed"
    ]
