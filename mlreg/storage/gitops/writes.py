"""What one mutating operation writes, and writing it: the WriteSet, the writers' lock, the refusals
(symlinks, paths outside the work tree, uncommitted changes) and the work-tree writes that can be undone."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import GitError
from .runner import Git

Content = bytes | Path | None  # new bytes, a file to copy in, or None to delete
FAULT_ENV = "MLREG_TEST_FAULT"  # read only by fault(): a test names a step and the process kills itself there
TEMP_RECORD = "mlreg-temp.json"  # in the git dir: the temp names a work-tree write may leave if it is killed


def fault(step: str) -> None:
    """The test hook: die here, as `kill -9` would, when MLREG_TEST_FAULT names this step."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class WriteSet:
    """What one mutating operation writes: files (relative to the repo root) and the commit it makes."""

    action: str
    model: str
    version: int | None
    subject: str
    files: dict[str, Content] = field(default_factory=dict)
    new_folders: list[str] = field(default_factory=list)  # folders created whole (temp folder, then rename)
    body: str = ""

    def message(self) -> str:
        trailers = [f"Mlreg-Action: {self.action}"] + ([f"Mlreg-Model: {self.model}"] if self.model else [])
        if self.version is not None:
            trailers.append(f"Mlreg-Version: {self.version}")
        body = f"{self.body.strip()}\n\n" if self.body.strip() else ""
        subject = " ".join(self.subject.split())  # a value with a newline must not end the subject
        return f"mlreg: {subject}\n\n{body}" + "\n".join(trailers) + "\n"


@dataclass
class Committed:
    """What apply() did: the paths written and the commit made (None with --no-commit)."""

    paths: list[str]
    commit: str | None = None
    branch: str | None = None


@contextmanager
def lock(root: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock under the git dir held for a whole mutating operation (serialises writers).

    wait=False: yield False at once when another process holds it (a live writer)."""
    from ...core.repo import of_root

    with open(of_root(root).git_dir / "mlreg.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def refuse_escape(root: Path, paths: list[str], new_folders: Sequence[str] = ()) -> None:
    """Never write through a symlink or outside the work tree (e.g. a model folder linked elsewhere).

    Files inside `new_folders` (which must not exist yet) are checked through their folder: each folder once."""
    top = root.resolve()
    checked: set[str] = set()
    for rel in paths:
        if rel.startswith("/") or ".." in rel.split("/"):
            raise GitError(f"{rel}: refusing to write outside the repository")
        key = next((f for f in new_folders if inside(rel, f)), rel)
        if key in checked:
            continue
        parts = key.split("/")
        for i in range(1, len(parts) + 1):
            part = "/".join(parts[:i])
            if part in checked:
                continue
            checked.add(part)
            at = root / part
            if at.is_symlink() or (at.exists() and not at.resolve().is_relative_to(top)):
                raise GitError(f"{rel}: refusing to write through the symlink {part}")


def clean_stale_temp(folder: Path) -> None:
    """Remove temp folders a killed mlreg left behind (call with the lock held: none can be live)."""
    if folder.is_dir():
        for stale in folder.glob(".v*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)


def refuse_dirty(g: Git, paths: list[str]) -> None:
    """Refuse when any of these paths has uncommitted changes (they would be overwritten or swept in)."""
    dirty = g.dirty(paths)
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise GitError(
            f"{shown}: uncommitted changes in files this command writes; commit or stash them first, "
            "or pass --no-commit"
        )


def write_files(root: Path, change: WriteSet):
    """Write every file (new folders via temp folder + rename); return a function that undoes it."""
    from ..atomic import write_atomic

    root = Path(root)
    folders = change.new_folders
    before = {
        rel: (root / rel).read_bytes() if (root / rel).is_file() else None
        for rel in change.files
        if not any(inside(rel, f) for f in folders)
    }
    created: list[Path] = []  # folders this change made, undone newest first

    def undo() -> None:
        for folder in reversed(created):
            shutil.rmtree(folder, ignore_errors=True)
        for rel, old in before.items():
            if old is None:
                (root / rel).unlink(missing_ok=True)
            else:
                write_atomic(root / rel, old)

    record = _record_temps(root, folders, list(before))
    try:
        for folder in folders:
            _write_folder(root, folder, change.files, created)
        for rel in before:
            for parent in reversed(Path(rel).parents[:-1]):
                if not (root / parent).exists():
                    created.append(root / parent)
            _put(root / rel, change.files[rel], write_atomic)
    except BaseException:
        undo()
        raise
    finally:
        record.unlink(missing_ok=True)
    return undo


def _record_temps(root: Path, folders: list[str], files: list[str]) -> Path:
    """Note, before writing, the temp names this write may leave in the work tree if it is killed (a folder's
    `.vN.tmp-*`, a file's `.NAME.*.tmp`): the next mlreg command removes them (remove_recorded_temps)."""
    from ...core.repo import of_root
    from ..atomic import write_atomic

    patterns = [f"{Path(f).parent.as_posix()}/.{Path(f).name}.tmp-*" for f in folders]
    patterns += [f"{Path(f).parent.as_posix()}/.{Path(f).name}.*.tmp" for f in files]
    record = of_root(root).git_dir / TEMP_RECORD
    write_atomic(record, (json.dumps({"root": str(Path(root).resolve()), "temps": patterns}) + "\n").encode())
    return record


def remove_recorded_temps(git_dir: Path) -> list[str]:
    """Remove what a killed work-tree write left (listed in its record); returns the paths removed. Call with
    mlreg's writer lock held, so no live write owns them."""
    record = git_dir / TEMP_RECORD
    try:
        doc = json.loads(record.read_text())
        root, patterns = Path(doc["root"]), [str(p) for p in doc["temps"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        record.unlink(missing_ok=True)
        return []
    removed = []
    for pattern in patterns:
        if pattern.startswith("/") or ".." in pattern.split("/"):
            continue
        for stale in sorted(root.glob(pattern)):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale.relative_to(root).as_posix())
    record.unlink(missing_ok=True)
    return removed


def _write_folder(root: Path, folder: str, files: dict[str, Content], created: list[Path]) -> None:
    """Write one new folder's files into a temp folder beside it, then rename it into place."""
    target = root / folder
    if target.exists():
        raise GitError(f"{folder}: already exists")
    if not target.parent.exists():
        target.parent.mkdir(parents=True)
        created.append(target.parent)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        made: set[Path] = {tmp}
        for rel, content in files.items():
            if inside(rel, folder):
                path = tmp / Path(rel).relative_to(folder)
                if path.parent not in made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    made.add(path.parent)
                _put(path, content, mkdir=False)
        fault("in-temp-folder")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a version folder is not
        os.rename(tmp, target)
        created.append(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def inside(rel: str, folder: str | None) -> bool:
    return folder is not None and (rel == folder or rel.startswith(folder.rstrip("/") + "/"))


def _put(path: Path, content: Content, writer=None, mkdir: bool = True) -> None:
    if content is None:
        path.unlink(missing_ok=True)
        return
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Path):
        shutil.copyfile(content, path)
    elif writer:
        writer(path, content)
    else:
        path.write_bytes(content)
