"""How an MLflow object's tags and bookkeeping differ from git's: pure data, shared by the plan's steps."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .ops import ModelPlan

_OWN = ("mlflow.", "mlreg.")  # MLflow's own tags and mlreg's bookkeeping: never diffed as plain tags


@dataclass
class TagDiff:
    """How an object's tags differ from git's."""

    set_tags: dict[str, str]  # git's tags MLflow lacks or holds with another value
    del_tags: list[str]  # tags sync set that git no longer has
    foreign: list[str]  # tags set in MLflow that git does not manage: left alone, reported
    drop_tags: list[str]  # an older sync's bookkeeping, replaced by SYNC

    @property
    def changes(self) -> bool:
        return bool(self.set_tags or self.del_tags or self.drop_tags)


def tag_diff(want: dict[str, str], have: dict[str, str], managed: set[str], ignore=(), legacy=()) -> TagDiff:
    """Tags to set, to delete (only ones sync manages: `managed`) and to leave alone; `mlflow.*` and mlreg's own
    `mlreg.*` tags are never diffed here."""
    set_tags = {k: v for k, v in want.items() if have.get(k) != v and k not in ignore}
    extra = [k for k in sorted(have) if k not in want and k not in ignore and not k.startswith(_OWN)]
    return TagDiff(
        set_tags,
        [k for k in extra if k in managed],
        [k for k in extra if k not in managed],
        [k for k in legacy if k in have],
    )


def managed(mark: dict[str, Any] | None, have: dict[str, str], derived: re.Pattern | None = None) -> set[str]:
    """The tag keys sync set on an object last time: listed in its SYNC tag (a version's short SYNC tag lists only
    the record's own tags: the `derived` ones are sync's by name); on an object without one, only the keys sync
    derives from the record (`derived`), so nobody's own tag is ever deleted."""
    by_name = {k for k in have if derived is not None and derived.match(k)}
    if mark is None:
        return by_name
    listed = {k for k in mark.get("tags") or [] if isinstance(k, str)}
    return listed | by_name if mark.get("short") else listed


def stale(mark: str, have: dict[str, Any] | None) -> bool:
    """The object's SYNC tag says something other than `mark` (the commit aside: it alone is no reason to write)."""
    if have is None:
        return True
    want = json.loads(mark)
    return {k: v for k, v in have.items() if k != "commit"} != {k: v for k, v in want.items() if k != "commit"}


def report_foreign(mp: ModelPlan, kind: str, name: str, keys: list[str]) -> None:
    if keys:
        mp.add(kind, name, "foreign", f"tags {', '.join(keys)}: set in MLflow, not managed by git; left alone")


def summary(set_tags: dict, del_tags: list, desc: bool, metrics: dict | None = None) -> str:
    parts = []
    if desc:
        parts.append("description")
    if set_tags:
        parts.append("tags " + ", ".join(sorted(set_tags)))
    if del_tags:
        parts.append("remove tags " + ", ".join(del_tags))
    if metrics:
        parts.append("metrics " + ", ".join(sorted(metrics)))
    return "; ".join(parts)
