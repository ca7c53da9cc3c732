"""What a training folder may hold, and names that every checkout (Windows, macOS) can write.

A training folder is read as plain files and folders only: a symlink is refused with the list of links
(`--follow-symlinks` copies the target's bytes, only for targets inside the folder), FIFOs, sockets and
devices are refused (reading a FIFO would hang), unreadable files are named, and an empty folder is refused.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path

from ..errors import MlregError

_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)
_BAD_CHARS = re.compile(r'[<>:"\\|?*\x00-\x1f\x7f]')
_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


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
        raise MlregError(
            f"{folder}: symlinks in the training folder: {_listed(links)}; mlreg does not follow "
            "them (a link could copy a file from outside into git): replace them with the files, or "
            "pass --follow-symlinks to copy the bytes of targets inside the folder"
        )
    if odd:
        raise MlregError(f"{folder}: {_listed(odd)}: a training folder may hold only regular files and folders")
    if not files:
        raise MlregError(
            f"{folder}: the training folder has no files; expected the model's files (and its run_metadata.json)"
        )
    unreadable = [rel for rel, path in files if not _readable(path)]
    if unreadable:
        raise MlregError(
            f"{folder}: cannot read {_listed(unreadable)} (permission denied); make the files readable and rerun"
        )
    return [path for _rel, path in sorted(files)]


def _walk(
    folder: Path, rel: str, top: Path, follow: bool, files: list, links: list, odd: list, seen: set[Path]
) -> None:
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
                why = (
                    "dangling"
                    if not target.exists()
                    else "outside the folder"
                    if not target.is_relative_to(top)
                    else ""
                )
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


# -- the one name rule: model names (register, import, the gate) and artifact paths ----------------------
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # used with fullmatch: no trailing newline slips by
MODEL_NAME_WORDS = "expected 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
_GIT_FILES = (".git", ".gitattributes", ".gitmodules")  # git reads these as its own settings, not as data


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a model name (None when it can): a full match of MODEL_NAME, and a folder every
    checkout (Windows, macOS) can write."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        return MODEL_NAME_WORDS
    if name.endswith(".") or _RESERVED.match(name):
        return (
            "a folder of that name cannot be checked out on Windows (reserved names CON, PRN, AUX, NUL, "
            "COM1-9, LPT1-9, with any extension; no trailing '.')"
        )
    return None


def path_problem(rel: str) -> str | None:
    """Why a relative artifact path cannot be checked out everywhere, or is not plain data (None when fine)."""
    if not isinstance(rel, str) or not rel:
        return "an empty path"
    for part in rel.split("/"):
        if part in ("", ".", ".."):
            return f"{rel!r} has an empty, '.' or '..' part"
        if part.lower() in _GIT_FILES:
            return f"{part!r} is a file git reads as its own settings"
        if _RESERVED.match(part):
            return f"{part!r} is a reserved name on Windows"
        if _BAD_CHARS.search(part):
            return f'{part!r} holds a character Windows does not allow in file names (<>:"\\|?* or a control)'
        if part.endswith((".", " ")):
            return f"{part!r} ends with '.' or a space, which Windows drops"
    return None


def fold(name: str) -> str:
    """The key two names collide on in some checkout: letter case and Unicode normalisation ignored."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def collisions(names: list[str]) -> list[tuple[str, str]]:
    """Pairs (first, other) of distinct names that are one name ignoring case and Unicode normalisation."""
    seen: dict[str, str] = {}
    out = []
    for name in names:
        other = seen.setdefault(fold(name), name)
        if other != name:
            out.append((other, name))
    return out


def refuse_unportable(rels: list[str], where: str) -> None:
    """Refuse artifact paths a Windows or macOS checkout could not write, or would merge (case or Unicode
    normalisation collisions)."""
    bad = [f"{rel} ({why})" for rel in rels if (why := path_problem(rel))]
    if bad:
        raise MlregError(f"{where}: {_listed(bad, 3)}: rename the files so every checkout can hold them")
    for other, rel in collisions(rels)[:1]:
        raise MlregError(
            f"{where}: {other} and {rel} differ only in letter case or Unicode normalisation: they "
            "would collide on Windows and macOS; rename one of them"
        )


def reserved_name(name: str) -> str | None:
    """Why a model name cannot be a folder on Windows (None when it can)."""
    return path_problem(name)
