"""The state every operation works on: the repository root, its registry files, the clock and the settings,
and the one way a change is written (a transaction, txn.py). `Registry` (api.py) holds one and hides it:
these are the operations' tools, not the public API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.files import RegistryFiles
from ..core.records import Settings
from ..core.views import Clock, Outcome, iso, utc_now
from ..errors import MlregError, UsageError
from ..storage import gitops, recovery, txn
from ..storage.gitops import snapshot


class Workspace:
    """A registry rooted at a repository work tree. Opening it finishes or undoes an interrupted write."""

    def __init__(self, root: Path | str, clock: Clock = utc_now, *, allow_detached: bool = False):
        self.root = Path(root).resolve()
        self.files: RegistryFiles = RegistryFiles(self.root)
        self.clock = clock
        self.allow_detached = allow_detached  # commit on a detached HEAD (refused unless asked)
        self._settings: Settings | None = None
        self._snap: snapshot.Snapshot | None = None  # the commit a write in progress builds on
        self._base: snapshot.TreeFiles | None = None  # that commit's registry files
        self.recovered: list[str] = recovery.recover(self.root)  # an interrupted write, finished or undone

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self.files.settings()
        return self._settings

    def stamp(self) -> tuple[str, str]:
        """(now as ISO-8601 UTC, the git user) for a record of who did what when."""
        return iso(self.clock()), gitops.Git(self.root).user()

    def byte_exact(self, files: dict[str, gitops.Content]) -> None:
        """Add registry/.gitattributes (artifacts stored without line-ending conversion) when it is missing."""
        if not self.has_file(txn.ATTRIBUTES):
            files[txn.ATTRIBUTES] = txn.ATTRIBUTES_TEXT

    @property
    def snapshot_commit(self) -> str | None:
        """The commit the write in progress builds on (None outside a write, or before the first commit)."""
        return self._snap.commit if self._snap else None

    def has_file(self, rel: str) -> bool:
        """Whether a registry file exists in what a write builds on: the commit it extends, or (--no-commit)
        the work tree or that commit (a folder missing from a sparse checkout still exists)."""
        if self._base is not None and self._base.exists(rel):
            return True
        return not isinstance(self.files, snapshot.TreeFiles) and (self.root / rel).exists()

    def version_numbers(self, name: str) -> list[int]:
        """A model's version numbers as a write sees them: the commit's, and (--no-commit) the work tree's too."""
        nums = set(self.files.version_numbers(name))
        if self._base is not None:
            nums |= set(self._base.version_numbers(name))
        return sorted(nums)

    def apply(
        self, change: gitops.WriteSet, commit: bool, branch: str | None, prepare_steps: list | None = None
    ) -> Outcome:
        """Write a change as one transaction (txn.py); `prepare_steps` run before the commit point."""
        if branch is not None and not branch.strip():
            raise UsageError("--branch needs a branch name")
        if branch is not None and not commit:
            raise UsageError("--branch and --no-commit contradict each other: --branch makes a commit")
        snap = self._snap if commit else None
        if commit and snap is None:  # a write that reads nothing first (init): the same refusals, HEAD as it is now
            snap = snapshot.take(self.root)
            snapshot.refuse_unsafe_state(self.root, snap, on_head=branch is None, allow_detached=self.allow_detached)
        applied = txn.apply(
            self.root,
            change,
            commit=commit,
            branch=branch,
            prepare_steps=prepare_steps,
            base=snap.commit if snap else None,
            base_branch=snap.branch if snap else None,
            snapshot=snap is not None,
        )
        return Outcome(change.action, change.model, change.version, applied.paths, applied.commit, applied.branch)

    @contextmanager
    def writing(self, commit: bool, branch: str | None, dry_run: bool = False) -> Iterator[list[str]]:
        """The lock and checks a write holds while it reads what it will change (recovery.writing), and the one
        snapshot it reads: a write that commits reads the registry of HEAD's commit, never the work tree."""
        with recovery.writing(self.root, commit and branch is None and not dry_run) as notes:
            snap = snapshot.take(self.root)
            if not dry_run:  # a dry run writes nothing: any state may be looked at
                snapshot.refuse_unsafe_state(
                    self.root, snap, on_head=commit and branch is None, allow_detached=self.allow_detached
                )
            base = snapshot.TreeFiles(self.root, snap.commit)
            _refuse_uninitialised(self.root, base, commit)
            store, settings = self.files, self._settings
            self._snap, self._base, self._settings = snap, base, None
            if commit:
                self.files = base
            try:
                yield notes
            finally:
                self.files, self._settings, self._snap, self._base = store, settings, None, None


def _refuse_uninitialised(root: Path, base: snapshot.TreeFiles, commit: bool) -> None:
    """Writes go only into a registry `mlreg init` made (mlreg.yaml), never silently create one."""
    from ..core.files import SETTINGS_FILE

    if base.exists(SETTINGS_FILE):
        return
    if not (root / SETTINGS_FILE).is_file():
        raise MlregError(
            f"{root}: no {SETTINGS_FILE} here, so this is not a registry yet; run `mlreg init` first "
            "(it writes mlreg.yaml with this registry's id and commits it)"
        )
    if commit:
        raise MlregError(
            f"{SETTINGS_FILE} is not committed yet (made with `mlreg init --no-commit`?): commit it "
            "first (`git add mlreg.yaml registry && git commit`), or pass --no-commit"
        )
