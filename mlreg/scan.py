"""What a training folder may hold, and names that every checkout (Windows, macOS) can write.

A training folder is read as plain files and folders only: a symlink is refused with the list of links
(`--follow-symlinks` copies the target's bytes, only for targets inside the folder), FIFOs, sockets and
devices are refused (reading a FIFO would hang), unreadable files are named, and an empty folder is refused.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .errors import MlregError

_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)
_BAD_CHARS = re.compile(r'[<>:"\\|?*\x00-\x1f]')
_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


def _listed(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def training_files(folder: Path, follow_symlinks: bool = False) -> list[Path]:
    """Every regular file below `folder` (never inside `.git`), sorted by relative path; bad entries refused."""
    top = folder.resolve()
    files: list[tuple[str, Path]] = []
    links: list[str] = []
    odd: list[str] = []
    _walk(folder, "", top, follow_symlinks, files, links, odd, {top})
    if links:
        raise MlregError(f"{folder}: symlinks in the training folder: {_listed(links)}; mlreg does not follow "
                         "them (a link could copy a file from outside into git): replace them with the files, or "
                         "pass --follow-symlinks to copy the bytes of targets inside the folder")
    if odd:
        raise MlregError(f"{folder}: {_listed(odd)}: a training folder may hold only regular files and folders")
    if not files:
        raise MlregError(f"{folder}: the training folder has no files; expected the model's files "
                         "(and its run_metadata.json)")
    unreadable = [rel for rel, path in files if not _readable(path)]
    if unreadable:
        raise MlregError(f"{folder}: cannot read {_listed(unreadable)} (permission denied); "
                         "make the files readable and rerun")
    return [path for _rel, path in sorted(files)]


def _walk(folder: Path, rel: str, top: Path, follow: bool, files: list, links: list, odd: list,
          seen: set[Path]) -> None:
    try:
        entries = list(os.scandir(folder))
    except PermissionError:
        odd.append(f"{rel or '.'} (a folder mlreg cannot read)")
        return
    for entry in entries:
        name = f"{rel}{entry.name}"
        if entry.name == ".git":
            continue
        if entry.is_symlink():
            target = Path(entry.path).resolve()
            if not follow or not target.exists() or not target.is_relative_to(top):
                why = ("dangling" if not target.exists() else "outside the folder" if not target.is_relative_to(top)
                       else "")
                links.append(f"{name} -> {os.readlink(entry.path)}" + (f" ({why})" if why else ""))
                continue
            if target.is_dir():
                if target not in seen:  # a link back up the tree would loop forever
                    _walk(Path(entry.path), name + "/", top, follow, files, links, odd, seen | {target})
                continue
        if entry.is_dir():
            _walk(Path(entry.path), name + "/", top, follow, files, links, odd, seen)
            continue
        mode = os.stat(entry.path).st_mode
        if stat.S_ISREG(mode):
            files.append((name, Path(entry.path)))
        else:
            odd.append(f"{name} is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}")


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


def path_problem(rel: str) -> str | None:
    """Why a relative path cannot be checked out everywhere (None when it can)."""
    for part in rel.split("/"):
        if _RESERVED.match(part):
            return f"{part!r} is a reserved name on Windows"
        if _BAD_CHARS.search(part):
            return f"{part!r} holds a character Windows does not allow in file names (<>:\"\\|?* or a control)"
        if part.endswith((".", " ")):
            return f"{part!r} ends with '.' or a space, which Windows drops"
    return None


def refuse_unportable(rels: list[str], where: str) -> None:
    """Refuse artifact paths a Windows or macOS checkout could not write, or would merge (case collisions)."""
    bad = [f"{rel} ({why})" for rel in rels if (why := path_problem(rel))]
    if bad:
        raise MlregError(f"{where}: {_listed(bad, 3)}: rename the files so every checkout can hold them")
    seen: dict[str, str] = {}
    for rel in rels:
        other = seen.setdefault(rel.lower(), rel)
        if other != rel:
            raise MlregError(f"{where}: {other} and {rel} differ only in letter case: they would collide on "
                             "Windows and macOS; rename one of them")


def reserved_name(name: str) -> str | None:
    """Why a model name cannot be a folder on Windows (None when it can)."""
    return path_problem(name)
