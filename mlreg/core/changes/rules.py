"""The rules that compute a ChangeSet from one registry state to another (transitions judged by the old
state's lifecycle)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

from ..files import REGISTRY_DIR, SETTINGS_FILE
from ..records import MUTABLE_VERSION_FIELDS, Settings
from .allow import appended_problem, arrival_problem, artifacts_problem, now_utc
from .kinds import (
    AliasChanged,
    ArtifactFileChanged,
    Change,
    ChangeSet,
    DescriptionChanged,
    FieldChanged,
    FileReadable,
    FileUnreadable,
    HistoryRefused,
    HistoryRewritten,
    ModelAdded,
    ModelRemoved,
    SettingsChanged,
    StageChanged,
    SymlinkFound,
    TagChanged,
    VersionAdded,
    VersionRemoved,
    VersionRenumbered,
)
from .state import Broken, State, _mfile, _vfile

_ABSENT = object()


def between(old: State, new: State, now: dt.datetime | None = None) -> ChangeSet:
    """The change set from `old` to `new`; transitions are judged by the old state's lifecycle, and recorded
    times by `now` (default: the clock)."""
    out = ChangeSet(old.label, new.label, old.commit, new.commit)
    settings = old.settings()
    now = now or now_utc()
    out.changes += _file_changes(old, new, SETTINGS_FILE)
    if SETTINGS_FILE not in {*old.broken, *new.broken} and old.settings_doc != new.settings_doc:
        keys = sorted(
            k for k in {*old.settings_doc, *new.settings_doc} if old.settings_doc.get(k) != new.settings_doc.get(k)
        )
        out.changes.append(SettingsChanged("", keys))
    for name in sorted({*old.models, *new.models}):
        if name not in new.models:
            out.changes.append(ModelRemoved(name, sorted(old.versions[name])))
        elif name not in old.models:
            doc = new.models[name] or {}
            out.changes.append(ModelAdded(name, str(doc.get("description") or ""), sorted(new.versions[name])))
        if name in new.models:
            out.changes += _file_changes(old, new, _mfile(name))
        if _mfile(name) not in old.broken:  # a base it could not read has nothing to compare with
            out.changes += _model_doc_changes(name, old.models.get(name), new.models.get(name))
        if name in new.models:
            out.changes += _version_changes(name, old, new, settings, now)
    out.changes += [
        SymlinkFound(_model_of(p), p, t)
        for p, t in sorted(new.links.items())
        if p not in old.links or old.links[p] != t
    ]
    for change in out.of(SettingsChanged):
        change.moved = [f"{c.model} v{c.version} {c.before} -> {c.after}" for c in out.of(StageChanged)]
    return out


def _model_of(path: str) -> str:
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == REGISTRY_DIR else ""


def _file_changes(old: State, new: State, rel: str) -> list[Change]:
    """The file at `rel` made unreadable, changed while unreadable, or made readable again."""
    a, b = old.broken.get(rel), new.broken.get(rel)
    if b and (not a or a.digest != b.digest):
        return [FileUnreadable(b.model, b.version, rel, b.reason, "unreadable" if a else _was(old, b))]
    if a and not b:
        return [FileReadable(a.model, a.version, rel, a.reason)]
    return []


def _was(old: State, b: Broken) -> str:
    """Whether the base had the document a broken file should hold: readable, or absent (new)."""
    if b.version is not None:
        present = b.version in old.versions.get(b.model, {})
    else:
        present = b.model in old.models if b.model else bool(old.settings_doc)
    return "readable" if present else "absent"


def _model_doc_changes(name: str, old: dict | None, new: dict | None) -> list[Change]:
    if new is None:
        return []
    old = old or {}
    out: list[Change] = []
    if old and old.get("description", "") != new.get("description", ""):
        out.append(DescriptionChanged(name, str(old.get("description") or ""), str(new.get("description") or "")))
    before, after = _mapping(old.get("aliases")), _mapping(new.get("aliases"))
    out += [
        AliasChanged(name, a, before.get(a), after.get(a))
        for a in sorted({*before, *after})
        if before.get(a) != after.get(a)
    ]
    if old:
        out += _tag_changes(name, None, old.get("tags"), new.get("tags"))
    return out


def _tag_changes(name: str, version: int | None, old: Any, new: Any) -> list[Change]:
    before, after = _mapping(old), _mapping(new)
    return [
        TagChanged(name, version, k, before.get(k), after.get(k))
        for k in sorted({*before, *after})
        if before.get(k) != after.get(k)
    ]


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _version_changes(name: str, old: State, new: State, settings: Settings, now: dt.datetime) -> list[Change]:
    before, after = old.versions.get(name, {}), new.versions[name]
    removed = [n for n in before if n not in after]
    added = [n for n in after if n not in before]
    out: list[Change] = []
    for n_old, n_new in _renumbered(before, after, removed, added):
        out.append(VersionRenumbered(name, n_old, n_new, _vfile(name, n_new)))
        removed.remove(n_old)
        added.remove(n_new)
    out += [VersionRemoved(name, n, _vfile(name, n)) for n in removed]
    for n in sorted(before.keys() & after.keys()):
        out += _file_changes(old, new, _vfile(name, n))
        out += _committed_version_changes(name, n, before[n], after[n], settings, now)
        out += _artifact_file_changes(name, n, old.blobs, new.blobs)
    highest = max(before) if before else None
    for n in sorted(added):  # a new record that cannot be read is only reported as unreadable
        rec = after[n]
        out += (
            _file_changes(old, new, _vfile(name, n)) if rec is None else [_added(name, n, rec, highest, settings, now)]
        )
    return out


def _renumbered(before: dict, after: dict, removed: list[int], added: list[int]) -> list[tuple[int, int]]:
    """Pairs (old number, new number) of a removed and an added version that are the same record."""
    prints = {n: _fingerprint(before[n]) for n in removed if before[n]}
    pairs = []
    for m in added:
        match = next((n for n, p in prints.items() if after[m] and p == _fingerprint(after[m])), None)
        if match is not None:
            pairs.append((match, m))
            del prints[match]
    return pairs


def _fingerprint(doc: dict) -> str:
    ignored = {"version", *MUTABLE_VERSION_FIELDS}
    return json.dumps({k: v for k, v in doc.items() if k not in ignored}, sort_keys=True)


def _committed_version_changes(
    name: str, n: int, old: dict | None, new: dict | None, settings: Settings, now: dt.datetime
) -> list[Change]:
    if old is None or new is None:  # unreadable: reported by _file_changes
        return []
    file = _vfile(name, n)
    out: list[Change] = []
    for key in sorted({*old, *new} - set(MUTABLE_VERSION_FIELDS)):
        for path, a, b in _leaf_diffs(old.get(key, _ABSENT), new.get(key, _ABSENT), f"$.{key}"):
            absent = "before" if a is _ABSENT else "after" if b is _ABSENT else None
            out.append(FieldChanged(name, n, file, path, _plain(a), _plain(b), absent))
    old_hist, new_hist = _list(old.get("stage_history")), _list(new.get("stage_history"))
    if new_hist[: len(old_hist)] != old_hist:
        at = next((i for i, (a, b) in enumerate(zip(old_hist, new_hist, strict=False)) if a != b), len(new_hist))
        out.append(HistoryRewritten(name, n, file, f"$.stage_history[{at}]"))
        appended = []
    else:
        appended = new_hist[len(old_hist) :]
    appended_note = appended_problem(appended, old_hist, old, old.get("stage") != new.get("stage"), now)
    if old.get("stage") != new.get("stage"):
        change = _stage_change(
            name, n, file, str(old.get("stage")), str(new.get("stage")), appended, old_hist, settings
        )
        if change.legal and appended_note:
            change.note, change.legal = appended_note, False
        out.append(change)
    elif appended_note:
        out.append(HistoryRefused(name, n, file, appended_note))
    out += _tag_changes(name, n, old.get("tags"), new.get("tags"))
    return out


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _stage_change(
    name: str, n: int, file: str, before: str, after: str, appended: list, old_hist: list, settings: Settings
) -> StageChanged:
    entry = next((e for e in reversed(appended) if isinstance(e, dict) and e.get("to") == after), None)
    change = StageChanged(name, n, file, before, after, _direction(settings, before, after, entry))
    change.path = [before, *(e["to"] for e in appended if isinstance(e, dict) and isinstance(e.get("to"), str))]
    if entry:
        change.reason, change.by, change.at = entry.get("reason"), entry.get("by"), entry.get("at")
    moved = (
        _rollback_problem(settings, n, after, old_hist)
        if entry and entry.get("action") == "rollback"
        else _transition_problem(settings, before, after, entry)
    )
    change.note = moved or _history_problem(settings, before, after, appended, len(old_hist))
    change.legal = change.note is None
    return change


def _rollback_problem(settings: Settings, n: int, stage: str, old_hist: list) -> str | None:
    """A rollback returns an exclusive stage to a version that held it before, by its committed history."""
    if not settings.rollback:
        return f"$.stage: rollback to {stage!r} refused: rollback is turned off (mlreg.yaml lifecycle.rollback: false)"
    spec = settings.stages.get(stage)
    if not spec or not spec.exclusive:
        return f"$.stage: rollback to {stage!r} refused: only an exclusive stage is rolled back"
    if not any(isinstance(e, dict) and e.get("to") == stage for e in old_hist):
        return (
            f"$.stage: rollback to {stage!r} refused: v{n} never held stage {stage!r} before (by its "
            "committed stage_history); a rollback returns the stage only to a version that held it"
        )
    return None


def _transition_problem(settings: Settings, before: str, after: str, entry: dict | None) -> str | None:
    spec = settings.stages.get(before)
    allowed = spec.to if spec else []
    if after in allowed:
        return None
    if spec and spec.exclusive and after == spec.demote_to and entry and entry.get("action") == "demote":
        return None  # the demotion an exclusive stage makes when a new holder is promoted
    return (
        f"$.stage: {before} -> {after} is not an allowed transition; from {before} a version may move to: "
        f"{', '.join(allowed) or 'nowhere'} (one step per change)"
    )


def _history_problem(settings: Settings, before: str, after: str, appended: list, first: int) -> str | None:
    """The appended stage_history entries must record the move: from `before`, chained, ending at `after`."""
    if not appended:
        return (
            f"$.stage_history: stage changed {before} -> {after} but no new stage_history entry records it; "
            "expected an appended entry with from, to, at, by and reason"
        )
    current: str | None = before
    for i, e in enumerate(appended, start=first):
        e = e if isinstance(e, dict) else {}
        if e.get("from") != current:
            return f"$.stage_history[{i}].from: expected {current!r} (the stage before it), got {e.get('from')!r}"
        if settings.require_reason and not str(e.get("reason") or "").strip():
            return f"$.stage_history[{i}].reason: expected a reason (mlreg.yaml lifecycle.require_reason)"
        current = e.get("to")
    if current != after:
        return f"$.stage_history[{first + len(appended) - 1}].to: expected {after!r} (the new stage), got {current!r}"
    return None


def _direction(settings: Settings, before: str, after: str, entry: dict | None) -> str:
    floors = {s.demote_to for s in settings.stages.values() if s.demote_to}
    order = list(settings.stages)
    if entry and entry.get("action") == "rollback":
        return "rolled back"
    if (entry and entry.get("action") == "demote") or after in floors:
        return "demoted"
    if before in floors:
        return "restored"
    if before in order and after in order:
        return "promoted" if order.index(after) > order.index(before) else "demoted"
    return "moved"


def _artifact_file_changes(name: str, n: int, old: dict[str, str] | None, new: dict[str, str] | None) -> list[Change]:
    if old is None or new is None:  # the work tree: plain validate re-hashes artifacts instead
        return []
    prefix, meta = f"{REGISTRY_DIR}/{name}/v{n}/", _vfile(name, n)
    a = {p: o for p, o in old.items() if p.startswith(prefix) and p != meta}
    b = {p: o for p, o in new.items() if p.startswith(prefix) and p != meta}
    out: list[Change] = []
    for p in sorted({*a, *b}):
        if a.get(p) != b.get(p):
            what = "added" if p not in a else "removed" if p not in b else "changed"
            out.append(ArtifactFileChanged(name, n, p, what))
    return out


def _added(name: str, n: int, doc: dict, highest: int | None, settings: Settings, now: dt.datetime) -> VersionAdded:
    params, lineage = _mapping(doc.get("params")), _mapping(doc.get("lineage"))
    base = _mapping(lineage.get("base"))
    return VersionAdded(
        name,
        n,
        _vfile(name, n),
        str(doc.get("stage", "")),
        str(doc.get("description") or ""),
        key_metrics(_mapping(doc.get("metrics")), params.get("primary_metric")),
        lineage.get("model_type"),
        f"{base.get('model')} v{base.get('version')}" if base else None,
        _mapping(doc.get("run")).get("name"),
        highest,
        arrival_problem(doc, settings, now) or artifacts_problem(doc, settings),
        [str(e.get("to")) for e in _list(doc.get("stage_history")) if isinstance(e, dict)],
    )


def key_metrics(metrics: dict[str, Any], primary: str | None = None, most: int = 4) -> dict[str, Any]:
    """The metrics a reviewer wants first: the primary metric's family, else the first few by name."""
    plain = sorted(k for k in metrics if not k.startswith("improvement_"))
    chosen = [k for k in plain if primary and k.startswith(str(primary))] or plain
    chosen = chosen[:most]
    chosen += [f"improvement_{k}" for k in chosen if f"improvement_{k}" in metrics]
    return {k: metrics[k] for k in chosen}


# -- JSON leaf diff --------------------------------------------------------------------------------
def _leaf_diffs(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """Every (JSON path, before, after) where two documents differ, down to the leaves."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted({*a, *b}, key=str):
            yield from _leaf_diffs(a.get(k, _ABSENT), b.get(k, _ABSENT), _key_path(path, k))
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            yield from _leaf_diffs(a[i] if i < len(a) else _ABSENT, b[i] if i < len(b) else _ABSENT, f"{path}[{i}]")
    elif a != b or isinstance(a, bool) != isinstance(b, bool):
        yield path, a, b


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_/-]*$")


def _key_path(path: str, key: Any) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.match(str(key)) else f"{path}[{json.dumps(str(key))}]"


def _plain(value: Any) -> Any:
    return None if value is _ABSENT else value
