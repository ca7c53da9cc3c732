"""Where the registry is: the git work tree, its git dir, and the registry folder inside it (no git calls).

The rule, applied by every command: `init` makes the registry in the folder it runs in (or `-C DIR`);
every other command uses the nearest folder upward holding `mlreg.yaml`, within the work tree, else the
work tree's root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import MlregError

SETTINGS_FILE = "mlreg.yaml"


@dataclass(frozen=True)
class Location:
    """A registry folder and the git repository around it."""

    root: Path  # the registry folder (holds mlreg.yaml and registry/)
    top: Path  # the git work tree's root
    git_dir: Path  # this work tree's git dir (HEAD, index, locks); a file `.git` is followed
    common_dir: Path  # the shared git dir (refs, objects); differs from git_dir in a linked worktree

    @property
    def prefix(self) -> str:
        """The registry folder relative to the work tree root, as a git path prefix ('' or 'sub/dir/')."""
        rel = self.root.relative_to(self.top).as_posix()
        return "" if rel == "." else rel + "/"


def work_tree(start: Path | str | None = None) -> tuple[Path, Path]:
    """(work tree root, git dir) of the repository holding `start`, found by walking up."""
    here = Path(start or Path.cwd()).resolve()
    if not here.is_dir():
        raise MlregError(f"{here}: no such folder")
    for folder in (here, *here.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return folder, dot
        if dot.is_file():
            return folder, _gitdir_from_file(dot)
    raise MlregError(f"{here}: not inside a git repository (run `git init` first)")


def _gitdir_from_file(dot: Path) -> Path:
    """Follow a `.git` file (`gitdir: <path>`, as submodules and linked worktrees write it); a relative path
    is relative to the folder holding the file, never to the current folder."""
    try:
        text = dot.read_text()
    except OSError as e:
        raise MlregError(f"{dot}: cannot read it ({e.strerror})") from None
    if not text.startswith("gitdir:"):
        raise MlregError(f"{dot}: expected a `gitdir: <path>` line")
    target = Path(text.split(":", 1)[1].strip())
    resolved = (dot.parent / target).resolve() if not target.is_absolute() else target.resolve()
    if not resolved.is_dir():
        raise MlregError(f"{dot}: its git dir {resolved} does not exist")
    return resolved


def _common_dir(git_dir: Path) -> Path:
    marker = git_dir / "commondir"
    if marker.is_file():
        rel = Path(marker.read_text().strip())
        return (git_dir / rel).resolve() if not rel.is_absolute() else rel
    return git_dir


def locate(start: Path | str | None = None, *, for_init: bool = False) -> Location:
    """The registry a command works on, by the rule in this module's docstring."""
    here = Path(start or Path.cwd()).resolve()
    top, git_dir = work_tree(here)
    root = here if for_init else top
    if not for_init:
        for folder in (here, *here.parents):
            if (folder / SETTINGS_FILE).is_file():
                root = folder
                break
            if folder == top:
                break
    return Location(root, top, git_dir, _common_dir(git_dir))


def of_root(root: Path | str) -> Location:
    """The Location of a known registry folder (e.g. `Registry(path)`): the folder itself is the registry."""
    root = Path(root).resolve()
    top, git_dir = work_tree(root)
    return Location(root, top, git_dir, _common_dir(git_dir))
