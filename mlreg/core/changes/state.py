"""One registry state, read leniently as raw documents (a file that cannot be read is noted in `broken`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import MlregError
from .. import schemas
from ..files import MODEL_FILE, REGISTRY_DIR, SETTINGS_FILE, VERSION_FILE, RegistryFiles, load_json, load_yaml
from ..records import Settings


@dataclass(frozen=True)
class Broken:
    """A registry file a state cannot read: why, and a fingerprint of its bytes ('' when missing)."""

    model: str
    version: int | None
    reason: str
    digest: str


@dataclass
class State:
    """One registry state as raw documents; `blobs` (path -> git blob id) when read from a commit."""

    label: str
    commit: str | None
    settings_doc: dict[str, Any]
    models: dict[str, dict[str, Any] | None]
    versions: dict[str, dict[int, dict[str, Any] | None]]
    blobs: dict[str, str] | None = None
    broken: dict[str, Broken] = field(default_factory=dict)  # repo-relative path -> why it cannot be read
    links: dict[str, str | None] = field(default_factory=dict)  # symlink path -> target (None: a submodule)

    def settings(self) -> Settings:
        """The lifecycle in force (the defaults when mlreg.yaml is absent or invalid)."""
        doc = self.settings_doc
        if doc and schemas.problems("registry", doc, SETTINGS_FILE):
            doc = {}
        return Settings.from_dict(doc)


def read_state(
    store: RegistryFiles, label: str, commit: str | None = None, blobs: dict[str, str] | None = None
) -> State:
    """Every registry document of a tree, read without schema checks; unreadable ones noted in `broken`."""
    broken: dict[str, Broken] = {}
    settings = _read(load_yaml, store.root, SETTINGS_FILE, broken, "", required=False)
    models, versions = {}, {}
    for name in store.model_names():
        models[name] = _read(load_yaml, store.root, _mfile(name), broken, name)
        versions[name] = {
            n: _read(load_json, store.root, _vfile(name, n), broken, name, n) for n in store.version_numbers(name)
        }
    return State(label, commit, settings or {}, models, versions, blobs, broken)


def _read(
    loader,
    root: Path,
    rel: str,
    broken: dict[str, Broken],
    model: str,
    version: int | None = None,
    required: bool = True,
) -> dict[str, Any] | None:
    """The mapping in `root/rel`, or None (noted in `broken` unless an optional file is simply absent)."""
    path = root / rel
    if not path.is_file():
        if required:
            broken[rel] = Broken(model, version, "file not found", "")
        return None
    try:
        doc = loader(path, rel)
    except (MlregError, OSError) as e:
        reason = str(e).removeprefix(f"{rel}: ")
    else:
        if isinstance(doc, dict):
            return doc
        reason = f"expected a mapping, got {_kind(doc)}"
    broken[rel] = Broken(model, version, reason, _digest(path))
    return None


def _kind(doc: Any) -> str:
    names = {
        type(None): "nothing",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
    }
    return names.get(type(doc), type(doc).__name__)


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _vfile(name: str, n: int) -> str:
    return f"{REGISTRY_DIR}/{name}/v{n}/{VERSION_FILE}"


def _mfile(name: str) -> str:
    return f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"
