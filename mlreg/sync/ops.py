"""What sync does: the steps of a plan (per registered model, in order) and one report line per object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .desired import WantRun, WantVersion


@dataclass
class Item:
    """One MLflow object and what sync does (or found) about it: one line of the report."""

    kind: str  # model | run | version | alias
    name: str  # btc-1h, btc-1h/3, btc-1h@champion
    status: str  # create | update | unchanged | conflict | prune | extra | kept | foreign | broken
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


@dataclass
class RunOp:
    """Create a run, or bring an existing mlreg run up to date (finish, restore, tags, metrics)."""

    model: str
    number: int
    want: WantRun
    existing: str | None = None  # run id; None = create
    artifact_uri: str | None = None  # of the existing run
    restore: bool = False
    finish: bool = False  # log params/metrics/files and mark FINISHED (new or interrupted run)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    set_tags: dict[str, str] = field(default_factory=dict)
    del_tags: list[str] = field(default_factory=list)
    upload: list[tuple] = field(default_factory=list)  # (local file, artifact path) the artifact store lacks
    drop_tags: list[str] = field(default_factory=list)  # an older sync's bookkeeping: removed after SYNC is set


@dataclass
class VersionOp:
    """Create a model version (after its run is complete), or update its tags/description."""

    model: str
    number: int
    create: bool
    want: WantVersion
    run_id: str | None = None  # known run; None = the RunOp for this version provides it
    artifact_uri: str | None = None
    placeholders: int = 0  # numbers to burn first (git skipped them)
    description: str | None = None  # new description (update only)
    set_tags: dict[str, str] = field(default_factory=dict)
    del_tags: list[str] = field(default_factory=list)
    drop_tags: list[str] = field(default_factory=list)  # an older sync's bookkeeping: removed after SYNC is set


@dataclass
class ModelPlan:
    """Every write for one registered model, in the order they must happen."""

    name: str
    create: bool = False
    description: str | None = None
    set_tags: dict[str, str] = field(default_factory=dict)
    del_tags: list[str] = field(default_factory=list)
    drop_tags: list[str] = field(default_factory=list)  # an older sync's bookkeeping: removed after SYNC is set
    runs: list[RunOp] = field(default_factory=list)
    versions: list[VersionOp] = field(default_factory=list)
    set_aliases: dict[str, int] = field(default_factory=dict)
    del_aliases: list[str] = field(default_factory=list)
    final_claim: str | None = None  # mlreg.aliases once stale aliases are gone (None: no change)
    delete_versions: list[int] = field(default_factory=list)
    delete_runs: list[str] = field(default_factory=list)
    delete_model: bool = False  # removed from git (--prune), after its runs
    stale_runs: list[str] = field(default_factory=list)  # runs sync made from another record (params/files differ)
    items: list[Item] = field(default_factory=list)

    @property
    def writes(self) -> int:
        """How many steps the plan has (the progress total)."""
        model = (
            1
            if (self.create or self.description is not None or self.set_tags or self.del_tags or self.drop_tags)
            else 0
        )
        return (
            model
            + len(self.runs)
            + len(self.versions)
            + len(self.set_aliases)
            + len(self.del_aliases)
            + len(self.delete_versions)
            + len(self.delete_runs)
            + (self.final_claim is not None)
            + self.delete_model
        )

    def add(self, kind: str, name: str, status: str, detail: str = "") -> None:
        self.items.append(Item(kind, name, status, detail))


class ItemQueries:
    """conflicts and drift over `self.items` (shared by SyncPlan and SyncReport)."""

    if (
        TYPE_CHECKING
    ):  # read-only here: SyncReport has a field, SyncPlan a property (a real property would break the field)

        @property
        def items(self) -> list[Item]: ...

    @property
    def conflicts(self) -> list[Item]:
        return [i for i in self.items if i.status == "conflict"]

    @property
    def drift(self) -> list[Item]:
        """Everything where MLflow differs from git (what --check reports)."""
        return [i for i in self.items if i.status not in ("unchanged", "kept", "foreign")]

    @property
    def broken(self) -> list[Item]:
        """What sync found broken on the server and cannot mend (unreadable webhooks, store objects gone)."""
        return [i for i in self.items if i.status == "broken"]

    @property
    def foreign(self) -> list[Item]:
        """What MLflow holds beside git's objects and sync leaves alone (a warning, not drift)."""
        return [i for i in self.items if i.status == "foreign"]


@dataclass
class SyncPlan(ItemQueries):
    """The whole sync: one ModelPlan per model, in order."""

    models: list[ModelPlan]

    @property
    def items(self) -> list[Item]:
        return [i for m in self.models for i in m.items]

    @property
    def writes(self) -> int:
        return sum(m.writes for m in self.models)


@dataclass
class Options:
    """How hard sync may push: overwrite hand edits, delete what git no longer has."""

    force: bool = False
    prune: bool = False
    artifacts: bool = False  # also compare the files in the artifact store (listed by the reader)
    repair: bool = False  # re-create registered models whose version numbers ran past git's
