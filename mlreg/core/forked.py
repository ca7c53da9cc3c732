"""Forked children: when a process may fork them (`spare_cores`: validate's workers ask too), and a function over
parts of a list in forked children (what the read catalog does with a spare core).

Threads do not help here: the work is many short system calls (a stat per record) or parsing, and handing
the GIL back and forth between two threads costs more than the second core gives. A forked child has its
own interpreter. Children are forked only on Linux, with a spare core, and by a process running no other
thread (forking one that does can deadlock the child); the child sends its result back marshalled through
a pipe and leaves with os._exit (never the parent's exit handlers). A child that fails costs only time: its
part is done here.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Callable
from typing import Any


def may_fork() -> bool:
    """Whether this process may fork a child that inherits its state: only on Linux, and only while it runs no
    other thread (forking one that does can deadlock the child)."""
    import threading

    return sys.platform.startswith("linux") and threading.active_count() == 1


def spare_cores() -> int:
    """How many children may be forked now (0: none)."""
    if not may_fork():
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores - 1


def fork_map(work: Callable[[Any], Any], parts: list[Any]) -> list[Any]:
    """[work(p) for p in parts], parts[1:] each in a forked child (`work` returns what marshal can write)."""
    children = [_fork(work, part) for part in parts[1:]]
    out = [work(parts[0])] if parts else []
    for part, child in zip(parts[1:], children, strict=True):
        found = _collect(child)
        out.append(work(part) if found is None else found[0])
    return out


def _fork(work: Callable[[Any], Any], part: Any) -> tuple[int, int] | None:
    """(pid, read end of its pipe) of a child doing `work(part)`; None when no child could be made."""
    try:
        r, w = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid:
        os.close(w)
        return pid, r
    code = 1
    try:  # the child: never returns
        os.close(r)
        view = memoryview(marshal.dumps((work(part),)))
        while view:
            view = view[os.write(w, view) :]
        code = 0
    finally:
        os._exit(code)


def _collect(child: tuple[int, int] | None) -> tuple | None:
    """The child's (result,), or None when it failed."""
    if child is None:
        return None
    pid, r = child
    parts = []
    try:
        while chunk := os.read(r, 1 << 20):
            parts.append(chunk)
    except OSError:
        parts = []
    finally:
        os.close(r)
        try:
            status = os.waitpid(pid, 0)[1]
        except ChildProcessError:  # reaped already (SIGCHLD ignored): what it wrote says whether it finished
            status = 0
    try:
        found = marshal.loads(b"".join(parts)) if status == 0 else None
    except (ValueError, EOFError, TypeError):
        return None
    return found if isinstance(found, tuple) and len(found) == 1 else None
