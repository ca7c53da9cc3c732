"""`history`: who did what when and why, from stage_history records woven into git log order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.records import StageChange, Version
from ..storage.gitops import CommitInfo


@dataclass
class Event:
    """One thing that happened to a model or version."""

    at: str
    by: str
    action: str
    version: int | None
    detail: str
    reason: str | None = None
    commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def weave(
    commits: list[CommitInfo],
    versions: list[Version],
    only: int | None = None,
    touched: dict[str, set[int]] | None = None,
) -> list[Event]:
    """Events oldest first: git order is the backbone; each stage change attaches to the commit that made it.

    `touched` (commit -> version numbers whose metadata.json it changed) ties a demotion to the promote or
    rollback commit that wrote it; without it, demotions stamped with the promote's time are taken."""
    pending = {(v.version, i): c for v in versions for i, c in enumerate(v.stage_history)}
    events: list[Event] = []
    for c in commits:
        action, num = c.trailers.get("Mlreg-Action"), c.trailers.get("Mlreg-Version")
        number = int(num) if num and num.isdigit() else None
        if action in ("register", "promote", "rollback") and number is not None:
            events += _take_stage_events(
                pending, number, action, c.sha, None if touched is None else touched.get(c.sha, set())
            )
        elif action == "import":
            events += [_event(k[0], pending.pop(k), c.sha) for k in sorted(pending) if pending[k].action == "import"]
        elif action and action != "init":
            events.append(Event(c.at, c.author, action, number, c.subject.removeprefix("mlreg: "), commit=c.sha))
        elif not action:
            events.append(Event(c.at, c.author, "edit", None, c.subject, commit=c.sha))
    leftovers = sorted(pending.items(), key=lambda kv: (kv[1].at, kv[0]))
    events += [_event(num, change, None) for (num, _), change in leftovers]
    return [e for e in events if only is None or e.version == only]


def _take_stage_events(pending: dict, number: int, action: str, sha: str, touched: set[int] | None) -> list[Event]:
    key = next((k for k in sorted(pending) if k[0] == number and pending[k].action == action), None)
    if key is None:
        return []
    main = pending.pop(key)
    out = [_event(number, main, sha)]
    if action in ("promote", "rollback"):  # the demotions an exclusive stage made in the same commit
        demotes = [k for k in sorted(pending) if pending[k].action == "demote"]
        if touched is not None:  # the oldest pending demotion of each other version this commit wrote
            demotes = [
                next(k for k in demotes if k[0] == n)
                for n in sorted(touched - {number})
                if any(k[0] == n for k in demotes)
            ]
        else:
            demotes = [k for k in demotes if pending[k].at == main.at]
        for k in demotes:
            out.append(_event(k[0], pending.pop(k), sha))
    return out


def _event(number: int, c: StageChange, sha: str | None) -> Event:
    detail = f"{c.action}ed in {c.to}" if c.action in ("register", "import") else f"{c.from_} -> {c.to}"
    return Event(c.at, c.by, c.action, number, detail, c.reason, sha or c.commit)
