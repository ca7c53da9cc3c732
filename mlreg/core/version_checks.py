"""`validate` for one version folder: its metadata.json and its files, each problem naming file and JSON path.

What a metadata.json says is checked in two parts. Its content alone (it parses, fits the schema, its last
history entry matches its stage, its artifact records are portable and carry no credentials) yields the
version's *facts* (name, number, stage, artifacts, lineage base) when nothing is wrong; the facts are then
checked against the folder they sit in (the names, the stages mlreg.yaml allows, the files present, their
digests). Facts depend on nothing but the file's bytes, so a `Memo` may keep them by git blob id and the
next run skips parsing files git knows are unchanged; a file with any content problem is never kept, and
is read and reported in full every time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..errors import MlregError
from ..masking import credentials_in, mask
from . import schemas
from .fastload import read_json
from .files import REGISTRY_DIR, SETTINGS_FILE, VERSION_FILE, RegistryFiles, load_yaml
from .records import Artifact, Hasher, Settings
from .scan import collisions, path_problem

# (name, version, stage, ((path, uri, size, sha256), ...), (base model, base version) or None)
Facts = tuple[str, Any, str, tuple[tuple[Any, Any, Any, Any], ...], "tuple[str, int] | None"]


class Memo(Protocol):
    """What an earlier run learned from a file's content, by the file's path (None: read the file): a
    metadata.json's Facts, a valid model.yaml's document."""

    def get(self, rel: str) -> Any: ...

    def put(self, rel: str, facts: Any) -> None: ...


class Node(NamedTuple):
    """A version as lineage checks see it: who it is and which version it names as its base."""

    name: str
    version: int
    base: tuple[str, int] | None


def symlink_problem(rel: str, target: str | None = None) -> str:
    """The one message for a symlink (or submodule link) where mlreg reads registry files."""
    what = f"is a symbolic link (to {target})" if target is not None else "is a symbolic link"
    if target is None and rel.endswith(" (submodule)"):
        rel, what = rel.removesuffix(" (submodule)"), "is a git submodule link"
    return f"{rel}: {what}; nothing under {REGISTRY_DIR}/ and no {SETTINGS_FILE} may be a symlink"


def load_checked(kind: str, path: str, rel: str, out: list[str]) -> tuple[Any, bool, bool]:
    """`load`, and whether the compiled schema check alone found the document valid."""
    try:
        doc = read_json(path, rel) if path.endswith(".json") else load_yaml(Path(path), rel)
    except MlregError as e:
        out.append(str(e))
        return None, False, False
    found, compiled = schemas.check(kind, doc, rel)
    out += found
    return doc, not found, compiled


def fingerprint() -> str:
    """What facts depend on besides a file's bytes: the source of every module that judges content, the
    shipped schemas, the Python running them (its JSON parser, its Unicode tables) and the YAML parser.
    Kept facts are used only under the same fingerprint, so a changed rule re-reads every file."""
    import hashlib
    import sys

    import yaml

    from .. import masking
    from . import fastload, fastschema, files, records, scan

    h = hashlib.sha256(f"{sys.version} {yaml.__version__} {yaml.__with_libyaml__}".encode())
    for module in (files, fastload, fastschema, schemas, records, scan, masking, sys.modules[__name__]):
        h.update(Path(str(module.__file__)).read_bytes())
    for kind in schemas.KINDS:
        h.update((schemas.SCHEMA_DIR / f"{kind}.schema.json").read_bytes())
    return h.hexdigest()[:32]


def walk(vdir: str) -> tuple[set[str], dict[str, str]]:
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


def version_problems(
    store: RegistryFiles,
    name: str,
    n: int,
    rules: list[Settings],
    out: list[str],
    hasher: Hasher | None,
    stages: dict[int, str],
    memo: Memo | None = None,
) -> Node | None:
    """Every problem of registry/NAME/vN (appended to `out`); the version for lineage checks (None when its
    metadata.json cannot be read as a whole)."""
    vrel = f"{REGISTRY_DIR}/{name}/v{n}"
    vdir = f"{store.root}/{vrel}"  # plain strings: pathlib costs more than the JSON on 100,000 files
    rel = f"{vrel}/{VERSION_FILE}"
    files, links = walk(vdir)
    if VERSION_FILE in links:
        out.append(symlink_problem(rel, links[VERSION_FILE]))
        return None
    facts = memo.get(rel) if memo is not None and VERSION_FILE in files else None
    if facts is None:
        found: list[str] = []
        doc, ok, compiled = load_checked("model_version", f"{vdir}/{VERSION_FILE}", rel, found)
        facts = facts_of(doc, rel) if ok and not found else None
        if facts is None:  # something in the file itself is wrong: every problem, in the file's order
            return _broken_version(doc, ok, found, name, n, rel, vrel, files, links, rules, out, hasher, stages)
        if memo is not None and compiled:  # kept only when mlreg's own code judged it (see fingerprint)
            memo.put(rel, facts)
    return _placed(facts, name, n, rel, vrel, files, links, rules, out, hasher, stages)


def facts_of(doc: dict[str, Any], rel: str) -> Facts | None:
    """The facts of a document that passed its schema; None when its content has any other problem."""
    stage = doc["stage"]
    history = doc["stage_history"]
    if history and history[-1]["to"] != stage:
        return None
    try:
        artifacts = [Artifact.from_dict(a) for a in doc["artifacts"]]
    except ValueError:
        return None
    if artifact_content_problems(artifacts, rel):
        return None
    base = (doc.get("lineage") or {}).get("base")
    return (
        doc["name"],
        doc["version"],
        stage,
        tuple((a.path, a.uri, a.size, a.sha256) for a in artifacts),
        (base["model"], base["version"]) if base else None,
    )


def _placed(
    facts: Facts,
    name: str,
    n: int,
    rel: str,
    vrel: str,
    files: set[str],
    links: dict[str, str],
    rules: list[Settings],
    out: list[str],
    hasher: Hasher | None,
    stages: dict[int, str],
) -> Node:
    """The problems of a version whose content is fine, in its folder (the same words as _broken_version's)."""
    own_name, number, stage, artifacts, base = facts
    out += _identity(own_name, number, stage, name, n, rel, rules, stages)
    records = [Artifact(sha256=sha, size=size, path=path, uri=uri) for path, uri, size, sha in artifacts]
    out += artifact_place_problems(records, rel, vrel, files, links, hasher)
    return Node(name, n, base)


def _identity(
    own_name: Any, number: Any, stage: Any, name: str, n: int, rel: str, rules: list[Settings], stages: dict[int, str]
) -> list[str]:
    out = []
    if isinstance(own_name, str) and own_name != name:
        out.append(f"{rel}: $.name: expected {name!r} (the model folder), got {own_name!r}")
    if isinstance(number, int) and number != n:
        out.append(f"{rel}: $.version: expected {n} (the folder v{n}), got {number}")
    if isinstance(stage, str):
        stages[n] = stage  # exclusive-stage holders count even when the rest of the file is broken
        for settings in rules:
            if stage not in settings.stages:
                out.append(
                    f"{rel}: $.stage: expected one of the stages in mlreg.yaml {list(settings.stages)}, got {stage!r}"
                )
    return out


def _broken_version(
    doc: Any,
    ok: bool,
    found: list[str],
    name: str,
    n: int,
    rel: str,
    vrel: str,
    files: set[str],
    links: dict[str, str],
    rules: list[Settings],
    out: list[str],
    hasher: Hasher | None,
    stages: dict[int, str],
) -> Node | None:
    out += found
    if not isinstance(doc, dict):
        return None
    # identity and stage are checked even when the schema failed: report every problem, not the first
    out += _identity(doc.get("name"), doc.get("version"), doc.get("stage"), name, n, rel, rules, stages)
    if not ok:
        return None
    stage = doc["stage"]
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
    return artifact_content_problems(artifacts, rel) + artifact_place_problems(
        artifacts, rel, vrel, files, links, hasher
    )


def artifact_content_problems(artifacts: list[Artifact], rel: str) -> list[str]:
    """What is wrong with the artifact records themselves: credentials in a URI, a path some checkout cannot
    hold, two paths one checkout would merge."""
    out = []
    for i, a in enumerate(artifacts):
        if a.uri is not None and (secret := credentials_in(a.uri)):
            out.append(
                f"{rel}: $.artifacts[{i}].uri: {mask(a.uri)} carries {secret}; credentials never go in a "
                "record (they belong in the environment of whoever reads the store)"
            )
        if a.path is not None and (why := _path_problem(a.path)):
            out.append(f"{rel}: $.artifacts[{i}].path: {why}; expected a path every checkout can hold")
    paths = [a.path for a in artifacts if a.path is not None]
    for first, other in collisions(paths) if len(paths) > 1 else ():
        out.append(
            f"{rel}: $.artifacts: {first!r} and {other!r} differ only in letter case or Unicode "
            "normalisation; expected names that stay distinct on Windows and macOS"
        )
    return out


def artifact_place_problems(
    artifacts: list[Artifact], rel: str, vrel: str, files: set[str], links: dict[str, str], hasher: Hasher | None
) -> list[str]:
    """Each in-repo artifact is a plain file of the folder that matches its digest; no file goes unrecorded."""
    out = []
    recorded = set()
    for i, a in enumerate(artifacts):
        if a.path is None or a.uri is not None:  # external, or in the object store: checked by verify / pull
            continue
        recorded.add(a.path)
        where = f"{rel}: $.artifacts[{i}]"
        if a.path in links or (links and any(a.path.startswith(f"{link}/") for link in links)):
            out.append(f"{where}: {a.path} must be a plain file inside the version folder (no symlinks)")
        elif a.path not in files:
            out.append(f"{where}: {a.path} is recorded but missing")
        elif hasher is not None and hasher(f"{vrel}/{a.path}") != (a.size, a.sha256):
            out.append(f"{where}: {a.path} does not match its recorded sha256/size")
    unrecorded = files - recorded
    unrecorded.discard(VERSION_FILE)
    for prel in sorted(unrecorded) if unrecorded else ():
        out.append(f"{rel}: $.artifacts: file {prel} is in the version folder but not recorded")
    for prel in sorted(set(links) - recorded) if links else ():
        out.append(symlink_problem(f"{vrel}/{prel}", links[prel]))
    return out


_PORTABLE: set[str] = set()  # artifact paths already found portable (the same names recur in every version)


def _path_problem(path: str) -> str | None:
    if path in _PORTABLE:
        return None
    why = path_problem(path)
    if why is None and len(_PORTABLE) < 50_000:
        _PORTABLE.add(path)
    return why
