"""`validate`: every schema and invariant problem of a registry tree, each naming file and JSON path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import lifecycle, schemas
from .errors import MlregError
from .records import NAME_RE, Settings, Version
from .runmeta import digest
from .store import MODEL_FILE, SETTINGS_FILE, VERSION_FILE, Store, load_json, load_yaml, parse_version_dirname


def registry_problems(store: Store, digests: bool = True) -> list[str]:
    """Every problem found in the registry (empty when valid); `digests` re-hashes in-repo artifacts."""
    out: list[str] = []
    settings = _settings(store, out)
    records: list[Version] = []
    if store.registry_dir.is_dir():
        for entry in sorted(store.registry_dir.iterdir()):
            rel = store.rel(entry)
            if entry.name.startswith("."):
                continue
            if not entry.is_dir() or entry.is_symlink():
                out.append(f"{rel}: unexpected file; expected only model folders in registry/")
            elif not NAME_RE.match(entry.name):
                out.append(f"{rel}: invalid model folder name; expected {NAME_RE.pattern}")
            else:
                records += _model_problems(store, entry.name, settings, out, digests)
    out += lineage_problems(records, store)
    return out


def _settings(store: Store, out: list[str]) -> Settings:
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


def _load(kind: str, path: Path, rel: str, out: list[str]) -> tuple[Any, bool]:
    """The parsed document (None when unreadable) and whether it passed its schema."""
    try:
        doc = load_json(path, rel) if path.suffix == ".json" else load_yaml(path, rel)
    except MlregError as e:
        out.append(str(e))
        return None, False
    found = schemas.problems(kind, doc, rel)
    out += found
    return doc, not found


def _model_problems(store: Store, name: str, settings: Settings, out: list[str], digests: bool) -> list[Version]:
    folder = store.model_dir(name)
    mrel = f"{store.rel(folder)}/{MODEL_FILE}"
    model_doc = None
    if (folder / MODEL_FILE).exists():
        model_doc, ok = _load("model", folder / MODEL_FILE, mrel, out)
        model_doc = model_doc if ok else None
    else:
        out.append(f"{mrel}: file not found; expected a model.yaml in every model folder")
    if model_doc and model_doc["name"] != name:
        out.append(f"{mrel}: $.name: expected {name!r} (the folder name), got {model_doc['name']!r}")
    records, stages = [], {}
    for entry in sorted(folder.iterdir()):
        if entry.name == MODEL_FILE or entry.name.startswith("."):
            continue
        n = parse_version_dirname(entry.name) if entry.is_dir() and not entry.is_symlink() else None
        if n is None:
            out.append(f"{store.rel(entry)}: unexpected entry; expected version folders v1, v2, ...")
            continue
        v = _version_problems(store, name, n, settings, out, digests, stages)
        if v:
            records.append(v)
    nums = store.version_numbers(name)
    if nums != list(range(1, len(nums) + 1)):
        missing = sorted(set(range(1, (nums[-1] if nums else 0) + 1)) - set(nums))
        out.append(f"{store.rel(folder)}: versions must be contiguous from v1; missing {', '.join(f'v{m}' for m in missing)}")
    for alias, target in ((model_doc or {}).get("aliases") or {}).items():
        if target not in nums:
            out.append(f"{mrel}: $.aliases.{alias}: points at v{target}, which does not exist")
        if alias in lifecycle.stage_refs(settings):
            out.append(f"{mrel}: $.aliases.{alias}: alias is reserved for the holder of stage "
                       f"{lifecycle.stage_refs(settings)[alias]!r}; expected another name")
        if settings.aliases is not None and alias not in settings.aliases:
            out.append(f"{mrel}: $.aliases.{alias}: alias not allowed by mlreg.yaml; expected one of {settings.aliases}")
    for stage, spec in settings.stages.items():
        holders = sorted(n for n, s in stages.items() if s == stage)
        if spec.exclusive and len(holders) > 1:
            out.append(f"{store.rel(folder)}: stage {stage!r} is exclusive but held by "
                       f"{', '.join(f'v{h}' for h in holders)}; expected at most one")
    return records


def _version_problems(store: Store, name: str, n: int, settings: Settings, out: list[str],
                      digests: bool, stages: dict[int, str]) -> Version | None:
    vdir = store.version_dir(name, n)
    rel = f"{store.rel(vdir)}/{VERSION_FILE}"
    doc, ok = _load("model_version", vdir / VERSION_FILE, rel, out)
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
    if isinstance(stage, str) and stage not in settings.stages:
        out.append(f"{rel}: $.stage: expected one of the stages in mlreg.yaml {list(settings.stages)}, got {stage!r}")
    if not ok:
        return None
    v = Version.from_dict(doc)
    if v.stage_history and v.stage_history[-1].to != v.stage:
        out.append(f"{rel}: $.stage: expected {v.stage_history[-1].to!r} (where the last stage_history entry "
                   f"moved it), got {v.stage!r}")
    out += artifact_problems(vdir, v, rel, digests)
    return v


def artifact_problems(vdir: Path, v: Version, rel: str, digests: bool = True) -> list[str]:
    """In-repo artifacts exist, match their digests, stay inside the folder; no file goes unrecorded."""
    out = []
    recorded = set()
    for i, a in enumerate(v.artifacts):
        if a.path is None:
            continue
        recorded.add(a.path)
        path = vdir / a.path
        where = f"{rel}: $.artifacts[{i}]"
        if path.is_symlink() or not path.resolve().is_relative_to(vdir.resolve()):
            out.append(f"{where}: {a.path} must be a plain file inside the version folder (no symlinks)")
        elif not path.is_file():
            out.append(f"{where}: {a.path} is recorded but missing")
        elif digests and (path.stat().st_size != a.size or digest(path) != a.sha256):
            out.append(f"{where}: {a.path} does not match its recorded sha256/size")
    for path in sorted(vdir.rglob("*")):
        prel = path.relative_to(vdir).as_posix()
        if (path.is_file() or path.is_symlink()) and prel != VERSION_FILE and prel not in recorded:
            out.append(f"{rel}: $.artifacts: file {prel} is in the version folder but not recorded")
    return out


def lineage_problems(records: list[Version], store: Store | None = None) -> list[str]:
    """Every base exists, and following bases never loops."""
    out = []
    known = {(v.name, v.version): v for v in records}
    for v in records:
        b = v.lineage.base
        where = f"registry/{v.name}/v{v.version}/{VERSION_FILE}: $.lineage.base"
        if b and (b.model, b.version) not in known:
            out.append(f"{where}: base {b.model} v{b.version} does not exist")
        seen, cur = set(), v
        while cur and cur.lineage.base:
            key = (cur.name, cur.version)
            if key in seen:
                out.append(f"{where}: lineage forms a cycle through {cur.name} v{cur.version}")
                break
            seen.add(key)
            cur = known.get((cur.lineage.base.model, cur.lineage.base.version))
    return out
