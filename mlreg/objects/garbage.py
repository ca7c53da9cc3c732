"""gc: removes objects of this registry that nothing records, in two phases, from any clone, on a schedule.

Only this registry's namespace (`<store>/_mlreg/<registry id>/`) is ever listed or deleted: registries share a
bucket or folder safely, and objects of the old layout (`<store>/<model>/v<N>/...`) are never touched. A run first
fetches every remote (refusing when it cannot), reads every record any commit, ref, stash, work tree or index holds,
and then, for each unrecorded object: marks it (the marks live in the store, `<namespace>/gc-marks.json`, so every
clone sees them), or deletes it when a run at least `grace` seconds earlier marked it and it is still unrecorded.
An object recorded again meanwhile loses its mark. A register in flight (uploaded, not yet committed or pushed)
is safe as long as it lands within the grace period.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MlregError
from ..masking import mask
from .stores import ObjectInfo, ObjectStore, PendingUpload, canonical
from .uploads import MARKS, namespace, registry_key, store_for

DEFAULT_GRACE = 7 * 24 * 3600.0  # seconds between the run that marks an object and the first that may delete it
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_grace(text: str | float) -> float:
    """A duration in seconds from `90s`, `30m`, `12h`, `7d`, `2w` (a bare number: days)."""
    raw = str(text).strip().lower()
    unit = raw[-1:] if raw[-1:] in _UNITS else "d"
    try:
        value = float(raw[:-1] if raw[-1:] in _UNITS else raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise MlregError(f"--grace {text!r}: expected a duration such as 7d, 12h, 30m or 0")
    return value * _UNITS[unit]


@dataclass
class GcReport:
    """One gc run (or what it would do, `dry_run`): which objects it deletes, marks, or leaves to their grace."""

    store: str  # this registry's namespace in the store
    registry: str
    grace: float
    objects: int = 0
    recorded: int = 0
    deleted: list[ObjectInfo] = field(default_factory=list)  # marked at least `grace` ago and still unrecorded
    marked: list[ObjectInfo] = field(default_factory=list)  # unrecorded, seen for the first time: marked now
    waiting: list[tuple[ObjectInfo, float]] = field(default_factory=list)  # (object, when it may be deleted)
    aborted: list[PendingUpload] = field(default_factory=list)  # multipart uploads marked at least `grace` ago
    pending: list[PendingUpload] = field(default_factory=list)  # multipart uploads marked, grace not over
    remotes: list[str] = field(default_factory=list)  # fetched before anything was decided
    dry_run: bool = False

    @property
    def deleted_bytes(self) -> int:
        return sum(o.size for o in self.deleted)

    def to_dict(self) -> dict[str, Any]:
        def obj(o: ObjectInfo) -> dict[str, Any]:
            return {"uri": mask(o.uri), "size": o.size}

        return {
            "store": mask(self.store),
            "registry": self.registry,
            "grace_seconds": self.grace,
            "dry_run": self.dry_run,
            "remotes": self.remotes,
            "objects": self.objects,
            "recorded": self.recorded,
            "deleted": [obj(o) for o in self.deleted],
            "marked": [obj(o) for o in self.marked],
            "waiting": [{**obj(o), "deletable_after": when} for o, when in self.waiting],
            "aborted_uploads": [{"uri": mask(u.uri), "upload_id": u.upload_id} for u in self.aborted],
            "pending_uploads": [{"uri": mask(u.uri), "upload_id": u.upload_id} for u in self.pending],
        }


def gc(
    root: Path, store: str | None, dry_run: bool = False, grace: float | str = DEFAULT_GRACE, now: float | None = None
) -> GcReport:
    """gc of the registry at `root` in `store`: fetch every remote (refusing when one cannot be fetched), read every
    record, then mark and delete (see collect_garbage)."""
    from ..storage import gitops

    if not store:
        raise MlregError("mlreg.yaml: no artifacts.store configured; gc cleans the object store")
    seconds = parse_grace(grace)
    remotes = gitops.fetch_remotes(root)
    recorded = gitops.recorded_uris(root)
    report = collect_garbage(store, registry_key(root), recorded, dry_run, seconds, now)
    report.remotes = remotes
    return report


def collect_garbage(
    store_uri: str,
    registry: str,
    recorded: set[str],
    dry_run: bool = False,
    grace: float = DEFAULT_GRACE,
    now: float | None = None,
) -> GcReport:
    """Mark this registry's unrecorded objects, delete those an earlier run marked at least `grace` seconds ago
    (and abort multipart uploads the same way); `dry_run` computes exactly that and changes nothing."""
    ns = namespace(store_uri, registry)
    store = store_for(ns)
    now = time.time() if now is None else now
    marks_uri = f"{ns}/{MARKS}"
    before = _read_marks(store, marks_uri)
    keep = {canonical(u) for u in recorded}
    report, after = GcReport(ns, registry, grace, dry_run=dry_run), {}
    for o in store.listing(ns):
        key = canonical(o.uri)
        if key == canonical(marks_uri) or _temp_of_note(o.uri, marks_uri):
            continue
        report.objects += 1
        if key in keep:
            report.recorded += 1
        elif key not in before:
            report.marked.append(o)
            after[key] = now
        elif now - before[key] >= grace:
            report.deleted.append(o)
        else:
            report.waiting.append((o, before[key] + grace))
            after[key] = before[key]
    for u in store.pending_uploads(ns):
        key = f"upload:{u.upload_id}"
        if key in before and now - before[key] >= grace:
            report.aborted.append(u)
        else:
            report.pending.append(u)
            after[key] = before.get(key, now)
    if not dry_run:
        if after != before:  # marks first: killed before the deletes, they are only marked again later
            store.write_note(marks_uri, _marks_doc(registry, after))
        store.delete([o.uri for o in report.deleted])
        store.abort_uploads(report.aborted)
    return report


def _temp_of_note(uri: str, marks_uri: str) -> bool:
    """A folder store's temporary file of a marks write in flight."""
    name = uri.rsplit("/", 1)[-1]
    return uri.rsplit("/", 1)[0] == marks_uri.rsplit("/", 1)[0] and name.startswith(f".mlreg-{MARKS}.")


def _read_marks(store: ObjectStore, uri: str) -> dict[str, float]:
    """The marks an earlier run left (canonical URI or `upload:<id>` -> when marked); an unreadable file counts as
    no marks: every object then waits a full grace period again, never less."""
    raw = store.read_note(uri)
    try:
        marks = json.loads(raw or b"{}").get("marks", {})
        return {str(k): float(v) for k, v in marks.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def _marks_doc(registry: str, marks: dict[str, float]) -> bytes:
    doc = {
        "about": "objects mlreg gc found unrecorded, and when; a later run deletes them after the grace period",
        "registry": registry,
        "marks": dict(sorted(marks.items())),
    }
    return (json.dumps(doc, indent=2) + "\n").encode()
