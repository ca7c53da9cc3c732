"""The kinds of change between two registry states, each saying why `validate --base` refuses it, and the
ChangeSet that holds them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..files import REGISTRY_DIR, SETTINGS_FILE, VERSION_FILE

_MUTABLE_RULE = "only stage, stage_history (appended) and tags may change"


@dataclass
class Change:
    """One difference between two registry states; `problem()` says why validate --base refuses it."""

    kind: ClassVar[str] = "change"
    model: str

    def problem(self) -> str | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind} | asdict(self)


@dataclass
class ModelAdded(Change):
    kind: ClassVar[str] = "model_added"
    description: str = ""
    versions: list[int] = field(default_factory=list)


@dataclass
class ModelRemoved(Change):
    kind: ClassVar[str] = "model_removed"
    versions: list[int] = field(default_factory=list)

    def problem(self) -> str | None:
        if not self.versions:
            return None
        held = ", ".join(f"v{n}" for n in self.versions)
        return (
            f"{REGISTRY_DIR}/{self.model}/: model {self.model} was deleted with its committed versions {held}; "
            "committed versions are never removed"
        )


@dataclass
class VersionAdded(Change):
    kind: ClassVar[str] = "version_added"
    version: int = 0
    file: str = ""
    stage: str = ""
    description: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    model_type: str | None = None
    base: str | None = None
    run: str | None = None
    after: int | None = None  # the highest version number the base already had
    arrival: str | None = None  # why its stage is not a legal arrival (None when it is)
    path: list[str] = field(default_factory=list)  # the stages its stage_history went through

    def problem(self) -> str | None:
        if self.after is not None and self.version <= self.after:
            return (
                f"{self.file}: $.version: new version v{self.version} must be numbered after the existing v{self.after}"
            )
        if self.arrival:
            return f"{self.file}: {self.arrival}"
        return None


@dataclass
class VersionRemoved(Change):
    kind: ClassVar[str] = "version_removed"
    version: int = 0
    file: str = ""

    def problem(self) -> str | None:
        return (
            f"{self.file}: committed version {self.model} v{self.version} was deleted; "
            "versions are never removed or reused"
        )


@dataclass
class VersionRenumbered(Change):
    kind: ClassVar[str] = "version_renumbered"
    before: int = 0
    after: int = 0
    file: str = ""

    def problem(self) -> str | None:
        return (
            f"{self.file}: {self.model} v{self.before} was renumbered to v{self.after}; "
            "committed version numbers never change"
        )


@dataclass
class FieldChanged(Change):
    """An immutable field of a committed version was edited (file and JSON path)."""

    kind: ClassVar[str] = "field_changed"
    version: int = 0
    file: str = ""
    path: str = "$"
    before: Any = None
    after: Any = None
    absent: str | None = None  # "before" (field added) or "after" (field removed)

    def problem(self) -> str | None:
        old = "absent" if self.absent == "before" else _show(self.before)
        new = "absent" if self.absent == "after" else _show(self.after)
        return (
            f"{self.file}: {self.path}: immutable field of committed version {self.model} v{self.version} "
            f"changed ({old} -> {new}); {_MUTABLE_RULE}"
        )


@dataclass
class ArtifactFileChanged(Change):
    """A file in a committed version's folder was replaced, added or removed (seen when HEAD is a ref)."""

    kind: ClassVar[str] = "artifact_file_changed"
    version: int = 0
    file: str = ""
    change: str = "changed"  # changed | added | removed

    def problem(self) -> str | None:
        return (
            f"{self.file}: file {self.change} in committed version {self.model} v{self.version}; "
            "committed artifacts are immutable"
        )


@dataclass
class StageChanged(Change):
    kind: ClassVar[str] = "stage_changed"
    version: int = 0
    file: str = ""
    before: str = ""
    after: str = ""
    direction: str = "moved"  # promoted | demoted | restored | rolled back | moved
    reason: str | None = None
    by: str | None = None
    at: str | None = None
    legal: bool = True
    note: str | None = None  # why it is refused
    path: list[str] = field(default_factory=list)  # every stage on the way, from the appended entries

    def problem(self) -> str | None:
        return None if self.legal else f"{self.file}: {self.note}"


@dataclass
class HistoryRewritten(Change):
    kind: ClassVar[str] = "history_rewritten"
    version: int = 0
    file: str = ""
    path: str = "$.stage_history"

    def problem(self) -> str | None:
        return (
            f"{self.file}: {self.path}: stage_history of {self.model} v{self.version} was rewritten; "
            "expected the committed entries unchanged and new entries appended"
        )


@dataclass
class HistoryRefused(Change):
    """Entries appended to a committed version's stage_history that no mlreg operation writes."""

    kind: ClassVar[str] = "history_refused"
    version: int = 0
    file: str = ""
    note: str = ""

    def problem(self) -> str | None:
        return f"{self.file}: {self.note}"


@dataclass
class AliasChanged(Change):
    kind: ClassVar[str] = "alias_changed"
    alias: str = ""
    before: int | None = None
    after: int | None = None


@dataclass
class TagChanged(Change):
    kind: ClassVar[str] = "tag_changed"
    version: int | None = None
    key: str = ""
    before: str | None = None
    after: str | None = None


@dataclass
class DescriptionChanged(Change):
    kind: ClassVar[str] = "description_changed"
    before: str = ""
    after: str = ""


@dataclass
class SettingsChanged(Change):
    """mlreg.yaml edited: reported, and judged by the old settings (the base's rules judge every change)."""

    kind: ClassVar[str] = "settings_changed"
    keys: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # stage changes made alongside a lifecycle change

    def problem(self) -> str | None:
        if "lifecycle" not in self.keys or not self.moved:
            return None
        shown = ", ".join(self.moved[:3]) + (f" and {len(self.moved) - 3} more" if len(self.moved) > 3 else "")
        return (
            f"{SETTINGS_FILE}: $.lifecycle: the lifecycle changes in the same change that moves stages "
            f"({shown}); expected the lifecycle changed in a pull request of its own, with no stage moves"
        )


@dataclass
class FileUnreadable(Change):
    """A registry file this change leaves unreadable: malformed, not a mapping, or deleted from its folder."""

    kind: ClassVar[str] = "file_unreadable"
    version: int | None = None
    file: str = ""
    reason: str = ""  # why HEAD cannot read it
    was: str = "readable"  # the file in BASE: readable | unreadable (other bytes) | absent

    def problem(self) -> str | None:
        return f"{self.file}: {self._subject()} {self._verb()}; {self._expected()}"

    def _subject(self) -> str:
        if self.version is not None:
            age = "new" if self.was == "absent" else "committed"
            return f"the record of {age} version {self.model} v{self.version}"
        return f"the model file of {self.model}" if self.model else "the registry settings file"

    def _verb(self) -> str:
        if self.reason == "file not found":
            return "is missing" if self.was == "absent" else "was deleted"
        if self.was == "readable":
            return f"was made unreadable ({self.reason})"
        return (
            f"is unreadable ({self.reason})"
            if self.was == "absent"
            else f"was changed and is still unreadable ({self.reason})"
        )

    def _expected(self) -> str:
        if self.version is not None and self.was != "absent":
            return "committed versions are immutable and never removed"
        if self.version is not None:
            return f"expected a {VERSION_FILE} holding a JSON object in every version folder"
        return f"expected a YAML mapping{' in every model folder' if self.model else ''}"


@dataclass
class FileReadable(Change):
    """A registry file BASE could not read that this change makes readable (or, for mlreg.yaml, removes)."""

    kind: ClassVar[str] = "file_readable"
    version: int | None = None
    file: str = ""
    reason: str = ""  # why BASE could not read it


@dataclass
class SymlinkFound(Change):
    """A symlink (or submodule link) where mlreg reads registry files: never allowed, never followed."""

    kind: ClassVar[str] = "symlink"
    file: str = ""
    target: str | None = None

    def problem(self) -> str | None:
        from ..checks import symlink_problem

        return (
            symlink_problem(self.file, self.target)
            if self.target is not None
            else symlink_problem(f"{self.file} (submodule)")
        )


@dataclass
class AttributesChanged(Change):
    """A .gitattributes that applies to registry files was added, changed or removed: every later clone would
    check out other bytes (line endings, encodings, filters) than the digests record."""

    kind: ClassVar[str] = "attributes_changed"
    file: str = ""

    def problem(self) -> str | None:
        return (
            f"{self.file}: a .gitattributes that applies to {REGISTRY_DIR}/ was added, changed or removed; "
            "a pull request may not change how git checks out registry files (mlreg writes "
            f"{REGISTRY_DIR}/.gitattributes itself)"
        )


@dataclass
class MergeConflict(Change):
    """A registry file the change and the base's newer commits both edited: git cannot merge it."""

    kind: ClassVar[str] = "merge_conflict"
    file: str = ""
    base: str = ""

    def problem(self) -> str | None:
        return (
            f"{self.file}: the change does not merge cleanly into {self.base} (both edited this file); "
            f"expected a branch that merges: rebase it onto {self.base} and push again"
        )


@dataclass
class ChangeSet:
    """Every change from one registry state to another, in a stable order."""

    base: str
    head: str
    base_commit: str | None
    head_commit: str | None
    changes: list[Change] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Why `validate --base` refuses this change (empty when every change is allowed)."""
        return [p for c in self.changes if (p := c.problem())]

    def of(self, *types: type) -> list:
        return [c for c in self.changes if isinstance(c, types)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "base_commit": self.base_commit,
            "head": self.head,
            "head_commit": self.head_commit,
            "changes": [c.to_dict() for c in self.changes],
            "problems": self.problems(),
        }


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
