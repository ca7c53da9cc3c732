"""What differs between two registry states: the one computation behind `diff` and `validate --base`.

States are read leniently as raw documents, so hand-edited files are compared exactly as written. A
file that cannot be read (malformed, not a mapping, or missing from its folder) reads as None and is noted
in `State.broken`, so a change that breaks, deletes or repairs it is still a change.

The public face; other modules import from here: `state` (reading a registry state), `kinds` (the
Change classes and ChangeSet), `rules` (`between`: the rules that compute a ChangeSet; `key_metrics`).
"""

from .kinds import (
    AliasChanged,
    ArtifactFileChanged,
    AttributesChanged,
    Change,
    ChangeSet,
    DescriptionChanged,
    FieldChanged,
    FileReadable,
    FileUnreadable,
    HistoryRefused,
    HistoryRewritten,
    MergeConflict,
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
from .rules import between, key_metrics
from .state import Broken, State, read_state

__all__ = [
    "AliasChanged",
    "AttributesChanged",
    "ArtifactFileChanged",
    "Broken",
    "Change",
    "ChangeSet",
    "DescriptionChanged",
    "FieldChanged",
    "FileReadable",
    "FileUnreadable",
    "HistoryRefused",
    "HistoryRewritten",
    "MergeConflict",
    "ModelAdded",
    "ModelRemoved",
    "SettingsChanged",
    "StageChanged",
    "State",
    "SymlinkFound",
    "TagChanged",
    "VersionAdded",
    "VersionRemoved",
    "VersionRenumbered",
    "between",
    "key_metrics",
    "read_state",
]
