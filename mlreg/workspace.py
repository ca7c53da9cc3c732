"""The state every operation works on: the repository root, its registry files, the clock and the settings,
and the one way a change is written (a transaction, txn.py). `Registry` (api.py) holds one and hides it:
these are the operations' tools, not the public API."""

from __future__ import annotations

from pathlib import Path

from . import gitops, txn
from .errors import UsageError
from .records import Settings
from .store import Store
from .views import Clock, Outcome, iso, utc_now


class Workspace:
    """A registry rooted at a repository work tree. Opening it finishes or undoes an interrupted write."""

    def __init__(self, root: Path | str, clock: Clock = utc_now):
        self.root = Path(root).resolve()
        self.store = Store(self.root)
        self.clock = clock
        self._settings: Settings | None = None
        self.recovered: list[str] = txn.recover(self.root)  # an interrupted write, finished or undone

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self.store.settings()
        return self._settings

    def stamp(self) -> tuple[str, str]:
        """(now as ISO-8601 UTC, the git user) for a record of who did what when."""
        return iso(self.clock()), gitops.Git(self.root).user()

    def byte_exact(self, files: dict[str, gitops.Content]) -> None:
        """Add registry/.gitattributes (artifacts stored without line-ending conversion) when it is missing."""
        if not (self.root / txn.ATTRIBUTES).exists():
            files[txn.ATTRIBUTES] = txn.ATTRIBUTES_TEXT

    def apply(self, change: gitops.ChangeSet, commit: bool, branch: str | None,
              prepare_steps: list | None = None) -> Outcome:
        """Write a change as one transaction (txn.py); `prepare_steps` run before the commit point."""
        if branch is not None and not branch.strip():
            raise UsageError("--branch needs a branch name")
        if branch is not None and not commit:
            raise UsageError("--branch and --no-commit contradict each other: --branch makes a commit")
        applied = txn.apply(self.root, change, commit=commit, branch=branch, prepare_steps=prepare_steps)
        return Outcome(change.action, change.model, change.version, applied.paths, applied.commit, applied.branch)

    def writing(self, commit: bool, branch: str | None, dry_run: bool = False):
        """The lock and checks a write holds while it reads what it will change (txn.writing)."""
        return txn.writing(self.root, commit and branch is None and not dry_run)
