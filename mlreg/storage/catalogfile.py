"""The read catalog's file (catalog.py): a checked head, then each column's bytes, read only when asked for.

Everything is checked before use: the head against its crc32, each column against its own; anything that
fails a check reads as no catalog (or, for a column, has the catalog rebuilt from the files).
"""

from __future__ import annotations

import marshal
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

FORMAT = b"mlreg-catalog 1\n"


class Stored:
    """The catalog file: a checked head (rows' keys and stats, models, where each column is), then the
    columns' and rows' bytes, each read only when asked for and checked against its own crc32."""

    def __init__(self, path: Path, head: dict, start: int):
        self.path, self.head, self.start = path, head, start

    @classmethod
    def open(cls, path: Path, root: Path) -> Stored | None:
        """None when missing, of another format, of another registry folder, or corrupt."""
        try:
            with open(path, "rb") as f:
                prefix = f.read(len(FORMAT) + 12)
                if len(prefix) < len(FORMAT) + 12 or not prefix.startswith(FORMAT):
                    return None
                crc = int.from_bytes(prefix[-12:-8], "big")
                size = int.from_bytes(prefix[-8:], "big")
                data = f.read(size)
            if len(data) != size or zlib.crc32(data) != crc:
                return None
            head = marshal.loads(data)
            if head.get("root") != str(root) or not isinstance(head.get("columns"), dict):
                return None
            return cls(path, head, len(prefix) + size)
        except (OSError, ValueError, EOFError, TypeError):
            return None

    def blob(self, where: tuple) -> bytes | None:
        offset, length, crc = where
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start + offset)
                data = f.read(length)
        except OSError:
            return None
        return data if len(data) == length and zlib.crc32(data) == crc else None

    def rows(self) -> list[tuple] | None:
        data = self.blob(self.head["rows"])
        try:
            return marshal.loads(data) if data is not None else None
        except (ValueError, EOFError, TypeError):
            return None


def write(path: Path, root: Path, head: dict, rows: list[tuple], columns: dict[str, Any]) -> None:
    """Write atomically; a failure only costs speed (the next read builds it again)."""
    blobs, offsets, at = [], {}, 0

    def add(obj: Any) -> tuple[int, int, int]:
        nonlocal at
        blob = marshal.dumps(obj)
        blobs.append(blob)
        at += len(blob)
        return at - len(blob), len(blob), zlib.crc32(blob)

    for name, col in columns.items():
        offsets[name] = add(col)
    head = {**head, "root": str(root), "columns": offsets, "rows": add(rows)}
    head_blob = marshal.dumps(head)
    data = FORMAT + zlib.crc32(head_blob).to_bytes(4, "big") + len(head_blob).to_bytes(8, "big") + head_blob
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".catalog-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.writelines(blobs)
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
