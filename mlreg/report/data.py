"""The registry at one commit, read through git (never the work tree), shaped for the report's pages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.fastload import parse as parse_json
from ..core.files import (
    MODEL_FILE,
    REGISTRY_DIR,
    SETTINGS_FILE,
    VERSION_FILE,
    check_name,
    parse_version_dirname,
    parse_yaml,
)
from ..core.records import NAME_RE, Model, Settings, Version
from ..errors import MlregError, NotFound
from ..storage import gitops

_REGULAR = ("100644", "100755")
_PATHLIKE = re.compile(r"(_dir|_path)$")  # params that name a folder or file differ by nature: not a "difference"


@dataclass
class VersionInfo:
    """One version as its page shows it."""

    record: Version
    version_type: str
    doc: dict[str, Any]  # metadata.json as committed
    history: list[gitops.CommitInfo] = field(default_factory=list)  # newest first
    in_git: dict[str, str] = field(default_factory=dict)  # artifact path -> blob id at the commit
    enhanced_by: list[tuple[str, int]] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)  # exclusive stages and aliases naming it

    @property
    def number(self) -> int:
        return self.record.version


@dataclass
class ModelInfo:
    """One model: model.yaml, its versions and what is derived from them."""

    model: Model
    versions: list[VersionInfo]
    history: list[gitops.CommitInfo] = field(default_factory=list)  # newest first
    holders: dict[str, int] = field(default_factory=dict)  # exclusive stage -> version

    @property
    def name(self) -> str:
        return self.model.name

    def version(self, n: int) -> VersionInfo | None:
        return next((v for v in self.versions if v.number == n), None)

    def differing_params(self) -> list[str]:
        """Param keys whose value is not the same in every version (folder and file paths left out)."""
        keys = sorted({k for v in self.versions for k in v.record.params if not _PATHLIKE.search(k)})
        return [k for k in keys if len({v.record.params.get(k) for v in self.versions}) > 1]

    def timeline(self) -> list[tuple[int, Any]]:
        """Every stage_history entry of every version, oldest first: (version, StageChange)."""
        entries = [(v.number, c) for v in self.versions for c in v.record.stage_history]
        return sorted(entries, key=lambda e: (e[1].at, e[0]))


@dataclass
class Snapshot:
    """The registry at one commit."""

    ref: str
    commit: str
    committed_at: str
    settings: Settings
    models: list[ModelInfo]
    problems: list[str] = field(default_factory=list)  # files that could not be read (left out of the site)
    partial: bool = False  # only some models (--model)


def load(root: Path, at: str = "HEAD", names: list[str] | None = None) -> Snapshot:
    """Read the registry at `at` from git: every model, or `names` (plus the models deriving from them)."""
    wanted = [check_name(n) for n in dict.fromkeys(names)] if names else None
    paths = [SETTINGS_FILE] + ([f"{REGISTRY_DIR}/{n}" for n in wanted] if wanted else [REGISTRY_DIR])
    commit = gitops.commits(root, at)[0]
    files = _files(root, commit, paths)
    if not files:
        raise MlregError(
            f"no registry at {at} ({commit[:10]}): no {SETTINGS_FILE} and no {REGISTRY_DIR}/ in that "
            "commit (run `mlreg init`, or name another ref with --at)"
        )
    _refuse_unknown(files, wanted, at)
    extra = _derived_models(root, files, wanted)
    if extra:
        files.update(_files(root, commit, [f"{REGISTRY_DIR}/{n}" for n in extra]))
    docs = gitops.blobs(root, [oid for path, oid in files.items() if _is_record(path)])
    problems: list[str] = []
    settings = _settings(files, docs, problems)
    models = _models(files, docs, settings, problems)
    history = gitops.folder_history(root, commit, paths[1:] + [f"{REGISTRY_DIR}/{n}" for n in extra])
    for m in models:
        m.history = history.get(f"{REGISTRY_DIR}/{m.name}", [])
        for v in m.versions:
            v.history = history.get(f"{REGISTRY_DIR}/{m.name}/v{v.number}", [])
    shown = [m for m in models if wanted is None or m.name in wanted]
    return Snapshot(at, commit, gitops.commit_time(root, commit), settings, shown, problems, wanted is not None)


def _files(root: Path, commit: str, paths: list[str]) -> dict[str, str]:
    """Registry-relative path -> blob id of every regular file under `paths` (symlinks are never followed)."""
    return {path: e.oid for path, e in gitops.listing(root, commit, paths).items() if e.mode in _REGULAR}


def _refuse_unknown(files: dict[str, str], wanted: list[str] | None, at: str) -> None:
    present = {p.split("/")[1] for p in files if p.startswith(f"{REGISTRY_DIR}/") and p.count("/") >= 2}
    missing = [n for n in wanted or [] if n not in present]
    if missing:
        raise NotFound(
            f"model {missing[0]!r} not found in {REGISTRY_DIR}/ at {at}"
            + (f" (nor {', '.join(missing[1:])})" if missing[1:] else "")
        )


def _derived_models(root: Path, files: dict[str, str], wanted: list[str] | None) -> list[str]:
    """Models whose versions enhance the wanted ones (their records make a version `old`)."""
    if wanted is None:
        return []
    oids = [files[f"{REGISTRY_DIR}/{n}/{MODEL_FILE}"] for n in wanted if f"{REGISTRY_DIR}/{n}/{MODEL_FILE}" in files]
    derived: list[str] = []
    for raw in gitops.blobs(root, oids).values():
        try:
            doc = parse_yaml(raw, MODEL_FILE)
        except MlregError:  # reported when the model itself is read
            continue
        if isinstance(doc, dict) and isinstance(doc.get("derived_models"), list):
            derived += [d for d in doc["derived_models"] if isinstance(d, str) and NAME_RE.match(d) and d not in wanted]
    return sorted(set(derived))


def _is_record(path: str) -> bool:
    return path == SETTINGS_FILE or path.endswith(f"/{MODEL_FILE}") or path.endswith(f"/{VERSION_FILE}")


def _settings(files: dict[str, str], docs: dict[str, bytes], problems: list[str]) -> Settings:
    if SETTINGS_FILE not in files:
        return Settings.from_dict({})
    try:
        doc = parse_yaml(docs[files[SETTINGS_FILE]], SETTINGS_FILE)
        return Settings.from_dict(doc if isinstance(doc, dict) else {})
    except Exception as e:  # noqa: BLE001 - any malformed settings: report with the default lifecycle
        problems.append(f"{SETTINGS_FILE}: unreadable ({_why(e, SETTINGS_FILE)}); the default lifecycle is shown")
        return Settings.from_dict({})


def _models(files: dict[str, str], docs: dict[str, bytes], settings: Settings, problems: list[str]) -> list[ModelInfo]:
    layout: dict[str, dict[int, str]] = {}
    for path in files:
        parts = path.split("/")
        if len(parts) >= 3 and parts[0] == REGISTRY_DIR:
            layout.setdefault(parts[1], {})
            if len(parts) == 4 and parts[3] == VERSION_FILE and (n := parse_version_dirname(parts[2])):
                layout[parts[1]][n] = path
    models = []
    for name in sorted(layout):
        model = _model(name, files, docs, problems)
        if model is None:
            continue
        found = [_version(path, name, n, docs[files[path]], problems) for n, path in sorted(layout[name].items())]
        models.append(ModelInfo(model, [v for v in found if v is not None]))
    _derive(models, files, settings)
    return models


def _model(name: str, files: dict[str, str], docs: dict[str, bytes], problems: list[str]) -> Model | None:
    path = f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"
    if path not in files:
        return Model(name=name)
    try:
        return Model.from_dict(parse_yaml(docs[files[path]], path))
    except Exception as e:  # noqa: BLE001 - an unreadable model.yaml leaves the model out, said on the index
        problems.append(f"{path}: unreadable ({_why(e, path)}); model left out")
        return None


def _version(path: str, name: str, n: int, raw: bytes, problems: list[str]) -> VersionInfo | None:
    try:
        doc = parse_json(raw, path)  # duplicate keys, NaN and infinities refused, as everywhere else
        record = Version.from_dict(doc)
        if (record.name, record.version) != (name, n):
            raise ValueError(f"names {record.name} v{record.version}, expected {name} v{n}")
        return VersionInfo(record, "latest", doc)
    except Exception as e:  # noqa: BLE001 - an unreadable record leaves the version out, said on the index
        problems.append(f"{path}: unreadable ({_why(e, path)}); version left out")
        return None


def _why(e: Exception, path: str) -> str:
    """What went wrong, without the file's name when the message starts with it (the caller names it)."""
    if isinstance(e, KeyError):
        return f"missing field {e}"
    text = " ".join(str(e).split())
    return text.removeprefix(f"{path}: ")[:200]


def _derive(models: list[ModelInfo], files: dict[str, str], settings: Settings) -> None:
    """version_type, who enhances whom, exclusive-stage holders, aliases, artifacts present in git."""
    by_key = {(m.name, v.number): v for m in models for v in m.versions}
    for m in models:
        for v in m.versions:
            base = v.record.lineage.base
            if base and (base.model, base.version) in by_key:
                target = by_key[(base.model, base.version)]
                target.version_type = "old"
                target.enhanced_by.append((m.name, v.number))
            prefix = f"{REGISTRY_DIR}/{m.name}/v{v.number}/"
            v.in_git = {
                a.path: files[prefix + a.path] for a in v.record.artifacts if a.path and prefix + a.path in files
            }
        for stage in (s.name for s in settings.stages.values() if s.exclusive):
            held = [v for v in m.versions if v.record.stage == stage]
            if held:
                m.holders[stage] = held[-1].number
                held[-1].holds.append(stage)
        for alias, n in sorted(m.model.aliases.items()):
            if holder := m.version(n):
                holder.holds.append(alias)
