"""`validate`: every schema and invariant problem of a registry tree, each naming file and JSON path."""

from __future__ import annotations

import os
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import MlregError
from ..masking import credentials_in, mask
from . import lifecycle, schemas
from .fastload import read_json
from .files import (
    MODEL_FILE,
    REGISTRY_DIR,
    SETTINGS_FILE,
    VERSION_FILE,
    RegistryFiles,
    load_yaml,
    parse_version_dirname,
)
from .records import Artifact, Hasher, Settings, Version
from .scan import collisions, name_problem, path_problem


def registry_problems(
    store: RegistryFiles, hasher: Hasher | None, rules: list[Settings] | None = None, jobs: int | None = None
) -> list[str]:
    """Every problem found in the registry (empty when valid).

    `hasher` gives an in-repo artifact's digest (the caller's: digests.py keys them by git blob id), None
    skips the digest check. `rules`: the settings to judge by (default: the tree's own mlreg.yaml;
    the pull-request gate passes the base's, and the head's too when a change edits them). `jobs`: how
    many processes check the models (default: one per CPU on a big registry); the answer is the same.
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
    checked = dict(check_models(store, names, rules, hasher, jobs))
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
    store: RegistryFiles, names: list[str], rules: list[Settings], hasher: Hasher | None, jobs: int | None = None
) -> list[tuple[str, tuple[list[str], list[Node]]]]:
    """(name, (its problems, its versions as lineage sees them)) for each model, in `names` order; on a big
    registry the models are shared among worker processes (forked: they inherit everything read so far).

    A hasher that learns digests (digests.py's) says so with `learned()` -> {blob id: digest} and takes back
    what the workers learned with `learn(...)`, so the parent's cache keeps it."""
    if jobs is None:
        jobs = _auto_jobs(len(names))
    if jobs <= 1 or len(names) < 2:
        return [(name, _one_model(store, name, rules, hasher)) for name in names]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [names[i :: jobs * 4] for i in range(jobs * 4)]
    _JOB.update(store=store, rules=rules, hasher=hasher)
    found: dict[str, tuple[list[str], list[Node]]] = {}
    try:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            for results, learned in pool.map(_chunk, chunks):
                found.update(results)
                if learned and hasher is not None:
                    hasher.learn(learned)  # type: ignore[attr-defined]
    finally:
        _JOB.clear()
    return [(name, found[name]) for name in names]


_JOB: dict[str, Any] = {}  # what forked workers inherit: nothing is pickled on the way in but model names
PARALLEL_FROM = 200  # models: below this, starting workers costs more than it saves


def _auto_jobs(models: int) -> int:
    import multiprocessing
    import sys

    if models < PARALLEL_FROM or sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return 1  # fork is the only start that inherits the state cheaply, and only Linux makes it safe
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def _chunk(names: list[str]) -> tuple[dict[str, tuple[list[str], list[Node]]], dict[str, Any]]:
    store, rules, hasher = _JOB["store"], _JOB["rules"], _JOB["hasher"]
    results = {name: _one_model(store, name, rules, hasher) for name in names}
    learned = getattr(hasher, "learned", None)
    return results, (learned() if learned else {})


def _one_model(
    store: RegistryFiles, name: str, rules: list[Settings], hasher: Hasher | None
) -> tuple[list[str], list[Node]]:
    out: list[str] = []
    nodes = _model_problems(store, name, rules, out, hasher)
    return out, nodes


def name_collisions(names: list[str]) -> list[str]:
    """One problem per pair of model folders that are one name ignoring case and Unicode normalisation."""
    return [
        f"{REGISTRY_DIR}/{b}: model name {b!r} collides with {a!r}: they differ only in letter case or Unicode "
        "normalisation, and Windows and macOS checkouts cannot hold both"
        for a, b in collisions(names)
    ]


def symlink_problem(rel: str, target: str | None = None) -> str:
    """The one message for a symlink (or submodule link) where mlreg reads registry files."""
    what = f"is a symbolic link (to {target})" if target is not None else "is a symbolic link"
    if target is None and rel.endswith(" (submodule)"):
        rel, what = rel.removesuffix(" (submodule)"), "is a git submodule link"
    return f"{rel}: {what}; nothing under {REGISTRY_DIR}/ and no {SETTINGS_FILE} may be a symlink"


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


def _load(kind: str, path: Path | str, rel: str, out: list[str]) -> tuple[Any, bool]:
    """The parsed document (None when unreadable) and whether it passed its schema."""
    try:
        doc = read_json(str(path), rel) if str(path).endswith(".json") else load_yaml(Path(path), rel)
    except MlregError as e:
        out.append(str(e))
        return None, False
    found = schemas.problems(kind, doc, rel)
    out += found
    return doc, not found


def _model_problems(
    store: RegistryFiles, name: str, rules: list[Settings], out: list[str], hasher: Hasher | None
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
            model_doc, ok = _load("model", folder / MODEL_FILE, mrel, out)
            model_doc = model_doc if ok else None
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
        v = _version_problems(store, name, n, rules, out, hasher, stages)
        if v:
            records.append(v)
    nums = sorted(versions)
    if nums != list(range(1, len(nums) + 1)):
        missing = sorted(set(range(1, (nums[-1] if nums else 0) + 1)) - set(nums))
        out.append(f"{frel}: versions must be contiguous from v1; missing {', '.join(f'v{m}' for m in missing)}")
    for settings in rules:
        out += _model_rule_problems(frel, mrel, model_doc, nums, stages, settings)
    return records


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


def _walk(vdir: str) -> tuple[set[str], dict[str, str]]:
    """Files and symlinks (-> their targets) below a version folder, relative to it; links are not followed."""
    files: set[str] = set()
    links: dict[str, str] = {}
    stack = [""]
    while stack:
        sub = stack.pop()
        with os.scandir(f"{vdir}/{sub}" if sub else vdir) as found:  # order does not matter: sets
            entries = list(found)
        for entry in entries:
            rel = f"{sub}{entry.name}"
            if entry.is_symlink():
                links[rel] = os.readlink(entry.path)
            elif entry.is_dir():
                stack.append(rel + "/")
            else:
                files.add(rel)
    return files, links


def _version_problems(
    store: RegistryFiles,
    name: str,
    n: int,
    rules: list[Settings],
    out: list[str],
    hasher: Hasher | None,
    stages: dict[int, str],
) -> Node | None:
    vrel = f"{REGISTRY_DIR}/{name}/v{n}"
    vdir = f"{store.root}/{vrel}"  # plain strings: pathlib costs more than the JSON on 100,000 files
    rel = f"{vrel}/{VERSION_FILE}"
    files, links = _walk(vdir)
    if VERSION_FILE in links:
        out.append(symlink_problem(rel, links[VERSION_FILE]))
        return None
    doc, ok = _load("model_version", f"{vdir}/{VERSION_FILE}", rel, out)
    if not isinstance(doc, dict):
        return None
    # identity and stage are checked even when the schema failed: report every problem, not the first
    if isinstance(doc.get("name"), str) and doc["name"] != name:
        out.append(f"{rel}: $.name: expected {name!r} (the model folder), got {doc['name']!r}")
    if isinstance(doc.get("version"), int) and doc["version"] != n:
        out.append(f"{rel}: $.version: expected {n} (the folder v{n}), got {doc['version']}")
    stage = doc.get("stage")
    if isinstance(stage, str):
        stages[n] = stage  # exclusive-stage holders count even when the rest of the file is broken
        for settings in rules:
            if stage not in settings.stages:
                out.append(
                    f"{rel}: $.stage: expected one of the stages in mlreg.yaml {list(settings.stages)}, got {stage!r}"
                )
    if not ok:
        return None
    history = doc["stage_history"]
    if history and history[-1]["to"] != stage:
        out.append(
            f"{rel}: $.stage: expected {history[-1]['to']!r} (where the last stage_history entry "
            f"moved it), got {stage!r}"
        )
    try:
        artifacts = [Artifact.from_dict(a) for a in doc["artifacts"]]
    except ValueError as e:
        out.append(f"{rel}: $.artifacts: {e}")
        artifacts = []
    out += artifact_problems(artifacts, rel, vrel, files, links, hasher)
    base = (doc.get("lineage") or {}).get("base")
    return Node(name, n, (base["model"], base["version"]) if base else None)


def artifact_problems(
    artifacts: list[Artifact], rel: str, vrel: str, files: set[str], links: dict[str, str], hasher: Hasher | None
) -> list[str]:
    """In-repo artifacts exist, match their digests, are plain files; no file goes unrecorded."""
    out = []
    recorded = set()
    for i, a in enumerate(artifacts):
        if a.uri is not None and (secret := credentials_in(a.uri)):
            out.append(
                f"{rel}: $.artifacts[{i}].uri: {mask(a.uri)} carries {secret}; credentials never go in a "
                "record (they belong in the environment of whoever reads the store)"
            )
        if a.path is not None and (why := path_problem(a.path)):
            out.append(f"{rel}: $.artifacts[{i}].path: {why}; expected a path every checkout can hold")
    paths = [a.path for a in artifacts if a.path is not None]
    for first, other in collisions(paths):
        out.append(
            f"{rel}: $.artifacts: {first!r} and {other!r} differ only in letter case or Unicode "
            "normalisation; expected names that stay distinct on Windows and macOS"
        )
    for i, a in enumerate(artifacts):
        if a.path is None or a.uri is not None:  # external, or in the object store: checked by verify / pull
            continue
        recorded.add(a.path)
        where = f"{rel}: $.artifacts[{i}]"
        if a.path in links or any(a.path.startswith(f"{link}/") for link in links):
            out.append(f"{where}: {a.path} must be a plain file inside the version folder (no symlinks)")
        elif a.path not in files:
            out.append(f"{where}: {a.path} is recorded but missing")
        elif hasher is not None and hasher(f"{vrel}/{a.path}") != (a.size, a.sha256):
            out.append(f"{where}: {a.path} does not match its recorded sha256/size")
    for prel in sorted(files - recorded - {VERSION_FILE}):
        out.append(f"{rel}: $.artifacts: file {prel} is in the version folder but not recorded")
    for prel in sorted(set(links) - recorded):
        out.append(symlink_problem(f"{vrel}/{prel}", links[prel]))
    return out


class Node(NamedTuple):
    """A version as lineage checks see it: who it is and which version it names as its base."""

    name: str
    version: int
    base: tuple[str, int] | None


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
