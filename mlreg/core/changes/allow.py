"""The allow-list of `validate --base`: a pull request may add to a version only what mlreg's own operations
write, judged by the base's settings.

- A new version arrives exactly as `register` writes it: the base's initial stage and one `register` entry.
  Versions `import` wrote are accepted only where the base's mlreg.yaml sets `gate.allow_imports`, and then
  never in, or through, an exclusive stage (rollback trusts committed history: a made-up "held champion
  before" must never land).
- A committed version gains at most one stage_history entry per change (promote, demote or rollback), dated
  no earlier than the entry before it and not in the future (a few minutes of clock skew allowed).
- External artifacts (`uri` without `path`) only under the prefixes the base's `artifacts.external` lists;
  stored ones (`uri` and `path`) only under the base's `artifacts.store` (or those prefixes).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..records import Settings

SKEW = dt.timedelta(minutes=5)  # how far ahead of the gate's clock an entry's `at` may be
MOVES = ("promote", "demote", "rollback")  # what promote and rollback append to a committed version
IMPORT_ACTIONS = ("import", "promote", "demote")  # what `import mlflow` / `import dir` write


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_at(value: Any) -> dt.datetime | None:
    """An ISO-8601 time as an aware UTC datetime (None when it is not one)."""
    if not isinstance(value, str):
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _entries(history: Any) -> list[dict]:
    return [e if isinstance(e, dict) else {} for e in (history if isinstance(history, list) else [])]


def times_problem(entries: list[dict], first: int, previous: Any, now: dt.datetime) -> str | None:
    """Each entry's `at` a time, no earlier than the one before it (`previous`, then each other), not ahead of
    `now` by more than SKEW."""
    before = parse_at(previous)
    for i, e in enumerate(entries, start=first):
        at = parse_at(e.get("at"))
        where = f"$.stage_history[{i}].at"
        if at is None:
            return f"{where}: expected an ISO-8601 UTC time, got {e.get('at')!r}"
        if before is not None and at < before:
            return (
                f"{where}: {e.get('at')} is earlier than the entry before it ({_iso(before)}); expected "
                "entries in time order"
            )
        if at > now + SKEW:
            return f"{where}: {e.get('at')} is in the future (the gate's clock reads {_iso(now)})"
        before = at
    return None


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def appended_problem(appended: list, old_hist: list, doc: dict, stage_moved: bool, now: dt.datetime) -> str | None:
    """What a change appends to a committed version's stage_history: one move, in time order, not ahead."""
    if not appended:
        return None
    first = len(old_hist)
    if len(appended) > 1:
        return (
            f"$.stage_history[{first + 1}]: {len(appended)} entries appended to one version in one change; "
            "expected one (one stage move per version per pull request: promote, then open another)"
        )
    e = _entries(appended)[0]
    if e.get("action", "promote") not in MOVES:
        return (
            f"$.stage_history[{first}].action: expected one of {', '.join(MOVES)} (what promote and rollback "
            f"append), got {e.get('action')!r}"
        )
    if not stage_moved:
        return (
            f"$.stage_history[{first}]: an entry was appended but the stage did not change; expected an entry "
            "only with the stage move it records"
        )
    previous = _entries(old_hist)[-1].get("at") if old_hist else doc.get("created_at")
    return times_problem([e], first, previous, now)


def arrival_problem(doc: dict, settings: Settings, now: dt.datetime) -> str | None:
    """Why a new version does not arrive as register (or, where allowed, import) writes it; None when it does.
    The message starts with its JSON path."""
    stage, initial = doc.get("stage"), settings.initial
    history = _entries(doc.get("stage_history"))
    action = history[0].get("action") if history else None
    if action == "import":
        return _import_problem(doc, history, settings, now)
    if action != "register":
        return (
            f"$.stage_history[0].action: expected 'register' (a new version arrives as `mlreg register` "
            f"writes it), got {action!r}"
        )
    if stage != initial:
        return (
            f"$.stage: new version arrives in stage {stage!r}: {initial} -> {stage} is not an allowed "
            f"transition (a new version arrives as `mlreg register` writes it, in the initial stage {initial!r}); "
            "register it, then promote it step by step in later changes"
        )
    if len(history) != 1:
        return (
            f"$.stage_history: a new version holds {len(history)} entries; expected one `register` entry "
            "(promote it in a later change)"
        )
    e = history[0]
    if e.get("to") != initial or e.get("from") is not None:
        return (
            f"$.stage_history[0]: expected from null to {initial!r} (what register writes), got "
            f"{e.get('from')!r} -> {e.get('to')!r}"
        )
    return times_problem(history, 0, None, now)


def _import_problem(doc: dict, history: list[dict], settings: Settings, now: dt.datetime) -> str | None:
    if not settings.allow_imports:
        return (
            "$.stage_history[0].action: a version `mlreg import` wrote is accepted through a pull request only "
            "when the base's mlreg.yaml sets gate.allow_imports: true; expected a version as `mlreg register` "
            "writes it (or the import committed to the default branch directly)"
        )
    exclusive = {n for n, s in settings.stages.items() if s.exclusive}
    for i, e in enumerate(history):
        if e.get("action") not in IMPORT_ACTIONS:
            return (
                f"$.stage_history[{i}].action: expected one of {', '.join(IMPORT_ACTIONS)} in an imported "
                f"version, got {e.get('action')!r}"
            )
        if e.get("to") not in settings.stages:
            return f"$.stage_history[{i}].to: expected one of the stages in mlreg.yaml, got {e.get('to')!r}"
        if e.get("to") in exclusive:
            return (
                f"$.stage_history[{i}].to: an imported version never arrives in, or through, the exclusive "
                f"stage {e.get('to')!r} in a pull request (rollback trusts that history); import it into "
                "another stage and promote it"
            )
    if history[-1].get("to") != doc.get("stage"):
        return f"$.stage: expected {history[-1].get('to')!r} (where the last stage_history entry moved it)"
    return times_problem(history, 0, None, now)


def artifacts_problem(doc: dict, settings: Settings) -> str | None:
    """External (and stored) artifact URIs a new version records, judged by the base's allowed prefixes."""
    found = doc.get("artifacts")
    arts: list[Any] = found if isinstance(found, list) else []
    store = settings.store.strip() if settings.store else None
    if store:  # as objstore.normalize writes it: an absolute path is a file:// URI
        store = (Path(store).as_uri() if store.startswith("/") else store).rstrip("/") + "/"
    for i, a in enumerate(arts):
        uri = a.get("uri") if isinstance(a, dict) else None
        if uri is None:
            continue
        stored = a.get("path") is not None
        allowed = [*settings.external, *([store] if stored and store else [])]
        why = uri_problem(uri, allowed)
        if why:
            what = "stored artifact" if stored else "external artifact"
            return f"$.artifacts[{i}].uri: {what} {str(uri)[:200]!r} {why}"
    return None


def uri_problem(uri: Any, prefixes: list[str]) -> str | None:
    """Why `uri` is not plainly under one of `prefixes` (None when it is)."""
    if not prefixes:
        return (
            "refused: the base's mlreg.yaml allows no external artifact URIs in a pull request (list the "
            "allowed prefixes in artifacts.external, e.g. [s3://team-bucket/models/])"
        )
    shown = ", ".join(prefixes)
    if not isinstance(uri, str):
        return f"is not a string; expected a URI under {shown}"
    under = next((p for p in prefixes if uri.startswith(p if p.endswith("/") else p + "/")), None)
    if under is None:
        return f"is not under an allowed prefix; expected one of {shown} (mlreg.yaml artifacts.external)"
    rest = uri[len(under if under.endswith("/") else under + "/") :]
    plain = unquote(rest)  # a file:// store quotes names (spaces, %); what they decode to must stay plain too
    if (
        not rest
        or any(c in rest for c in "?#")
        or any(c == "\\" or ord(c) < 0x20 or c == "\x7f" for c in plain)
        or any(part in ("", ".", "..") for part in (*rest.split("/"), *plain.split("/")))
    ):
        return (
            f"is not a plain path under {under} (no empty, '.' or '..' parts, encoded or not; no ?, #, "
            "backslashes or control characters)"
        )
    return None
