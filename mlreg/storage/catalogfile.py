"""The read catalog's file (catalog.py): a checked head, then each column's bytes, read only when asked for.

Everything is checked before use: the head against its crc32, each column against its own; anything that
fails a check reads as no catalog (or, for a column, has the catalog rebuilt from the files). The file is
only ever replaced whole (a temporary file renamed over it), and a reader keeps the file it opened: a
concurrent rewrite never mixes two catalogs' bytes.
"""

from __future__ import annotations

import marshal
import os
import zlib
from pathlib import Path
from typing import Any

FORMAT = b"mlreg-catalog 2\n"
_PREFIX = len(FORMAT) + 12  # the format line, then the head's crc32 (4 bytes) and length (8 bytes)


class Stored:
    """An open catalog file: its checked head, and its columns' bytes read on demand from the same file."""

    def __init__(self, fd: int, head: dict, start: int):
        self._fd, self.head, self.start = fd, head, start

    def __del__(self) -> None:
        try:
            os.close(self._fd)
        except (OSError, AttributeError, TypeError):
            pass

    @classmethod
    def open(cls, path: Path, root: Path) -> Stored | None:
        """None when missing, of another format, of another registry folder, or corrupt."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            prefix = os.pread(fd, _PREFIX, 0)
            if len(prefix) < _PREFIX or not prefix.startswith(FORMAT):
                raise ValueError("not a catalog")
            crc, size = int.from_bytes(prefix[-12:-8], "big"), int.from_bytes(prefix[-8:], "big")
            data = _read(fd, size, _PREFIX)
            if len(data) != size or zlib.crc32(data) != crc:
                raise ValueError("corrupt head")
            head = marshal.loads(data)
            if not isinstance(head, dict) or head.get("root") != str(root) or not isinstance(head.get("models"), dict):
                raise ValueError("another registry's")
            return cls(fd, head, _PREFIX + size)
        except (OSError, ValueError, EOFError, TypeError, OverflowError, MemoryError):
            os.close(fd)
            return None

    def blob(self, where: tuple) -> bytes | None:
        """The bytes at `where` (offset, length, crc32) of the data, or None when they do not check."""
        offset, length, crc = where
        try:
            data = _read(self._fd, length, self.start + offset)
        except (OSError, ValueError, OverflowError):
            return None
        return data if len(data) == length and zlib.crc32(data) == crc else None

    def data(self, length: int) -> bytes | None:
        """The first `length` bytes of the data (every column), unchecked: copied into a new catalog as they are
        (each column is still checked against its own crc32 when read)."""
        try:
            data = _read(self._fd, length, self.start)
        except (OSError, ValueError, OverflowError):
            return None
        return data if len(data) == length else None


def _read(fd: int, size: int, offset: int) -> bytes:
    parts = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(parts)


def encode(columns: dict[str, Any]) -> tuple[bytes, dict[str, tuple[int, int, int]]]:
    """Every column's marshal bytes, one after the other, and where each one is (offset, length, crc32)."""
    blobs, where, at = [], {}, 0
    for name, col in columns.items():
        blob = marshal.dumps(col)
        blobs.append(blob)
        where[name] = (at, len(blob), zlib.crc32(blob))
        at += len(blob)
    return b"".join(blobs), where


def write(path: Path, root: Path, head: dict, data: bytes) -> None:
    """Write the head and the columns' bytes atomically; a failure only costs speed (the next read builds
    the catalog again)."""
    import tempfile  # (only here: importing it costs more than a read of a fresh catalog)

    head_blob = marshal.dumps({**head, "root": str(root)})
    prefix = FORMAT + zlib.crc32(head_blob).to_bytes(4, "big") + len(head_blob).to_bytes(8, "big")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".catalog-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(prefix)
            f.write(head_blob)
            f.write(data)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
