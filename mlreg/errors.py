"""One error family: every foreseeable failure is a MlregError with a user-facing message."""

from __future__ import annotations

__all__ = ["GitError", "MlregError", "NotFound", "UsageError", "shown"]


class MlregError(Exception):
    """A failure the user can act on; the CLI prints it as one `Error:` line and exits 1."""


class InvalidRegistry(MlregError):
    """One or more files break their schema or an invariant; carries every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UsageError(MlregError):
    """Arguments that contradict each other or cannot be a value; the CLI exits 2."""


class NotFound(MlregError):
    """A model, version, alias or ref that does not exist."""


class GitError(MlregError):
    """A git operation failed or was refused (dirty paths, no repository, branch exists)."""


def shown(text: str) -> str:
    """`text` as the CLI may print it: credentials in any URI masked (the one function: mlreg.masking.mask)."""
    from .masking import mask

    return mask(text)
