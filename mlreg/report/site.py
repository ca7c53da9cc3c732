"""Write the report: an index, a page per model and per version, rendered by Jinja2 from data.Snapshot.

The site is written to a temporary folder beside the output and swapped in at the end, so a failed build
leaves the previous report as it was. Models are rendered by a few worker processes on big registries.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import MlregError
from . import data, pages

MARKER = ".mlreg-report"  # names a folder this command wrote (and may therefore replace)
Progress = Callable[[int, int], None]  # (models done, models in all)


@dataclass
class Built:
    """What `report` wrote."""

    out: Path
    ref: str
    commit: str
    models: int
    versions: int
    pages: int
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "index": str(self.index),
            "ref": self.ref,
            "commit": self.commit,
            "models": self.models,
            "versions": self.versions,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "problems": self.problems,
        }


def build(
    root: Path,
    out: Path,
    models: list[str] | None = None,
    at: str = "HEAD",
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> Built:
    """Build the static site of the registry at `at` (every model, or `models`) into `out`."""
    start = time.perf_counter()
    out = Path(out).resolve()
    _refuse_target(Path(root).resolve(), out)
    snap = data.load(Path(root), at, models)
    renderer = pages.Renderer(snap)  # fails early (one line) when the report extra is missing
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        count = _write(renderer, snap, tmp, jobs, progress)
        (tmp / MARKER).write_text(f"{snap.commit}\n")
        (tmp / ".nojekyll").write_text("")  # served as is by GitHub Pages
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    nversions = sum(len(m.versions) for m in snap.models)
    return Built(out, at, snap.commit, len(snap.models), nversions, count, time.perf_counter() - start, snap.problems)


def _refuse_target(root: Path, out: Path) -> None:
    """Never write over the registry, the repository itself or a folder this command did not make."""
    if (
        out == root
        or root.is_relative_to(out)
        or out.is_relative_to(root / "registry")
        or out.is_relative_to(root / ".git")
    ):
        raise MlregError(
            f"{out}: refusing to write the report there (the repository, registry/ or .git); "
            "choose an output folder such as site/"
        )
    if out.exists() and not out.is_dir():
        raise MlregError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise MlregError(
            f"{out}: folder exists, is not empty and was not written by `mlreg report`; "
            "choose another -o folder or empty it"
        )
    if not out.parent.is_dir():
        raise MlregError(f"{out.parent}: folder not found (the report's parent folder must exist)")


def _swap(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
    os.rename(tmp, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- writing pages --------------------------------------------------------------------------------------
def _write(
    renderer: pages.Renderer, snap: data.Snapshot, dest: Path, jobs: int | None, progress: Progress | None
) -> int:
    static = dest / "static"
    static.mkdir()
    for name in ("style.css", "site.js"):
        (static / name).write_bytes(resources.files("mlreg.report").joinpath("static", name).read_bytes())
    (dest / "index.html").write_text(renderer.index(), encoding="utf-8")
    total = len(snap.models)
    workers = _workers(jobs, total)
    if workers <= 1:
        count = 0
        for i in range(total):
            count += _model_pages(renderer, i, dest)
            if progress:
                progress(i + 1, total)
        return count + 1
    return 1 + _in_processes(renderer, dest, workers, progress)


def _workers(jobs: int | None, models: int) -> int:
    if jobs is not None:
        return max(1, jobs)
    if models < 16 or os.name != "posix":  # a process pool costs more than it saves on a small registry
        return 1
    return min(os.cpu_count() or 1, 8)


def _model_pages(renderer: pages.Renderer, i: int, dest: Path) -> int:
    """Write one model's page and its versions' pages; returns the number of pages."""
    m = renderer.snap.models[i]
    folder = dest / "models" / m.name
    folder.mkdir(parents=True)
    (folder / "index.html").write_text(renderer.model(m), encoding="utf-8")
    for v in m.versions:
        (folder / f"v{v.number}.html").write_text(renderer.version(m, v), encoding="utf-8")
    return 1 + len(m.versions)


_JOB: dict[str, Any] = {}  # what forked workers inherit (nothing is pickled but model indexes)


def _in_processes(renderer: pages.Renderer, dest: Path, workers: int, progress: Progress | None) -> int:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    total = len(renderer.snap.models)
    chunks = [list(range(i, total, workers * 4)) for i in range(workers * 4)]
    renderer.prepare()  # fonts and the common figure layout, made once and inherited by every worker
    _JOB.update(renderer=renderer, dest=dest)
    done = count = 0
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for pages_written, models_done in pool.map(_chunk, chunks):
                count += pages_written
                done += models_done
                if progress:
                    progress(done, total)
    finally:
        _JOB.clear()
    return count


def _chunk(indexes: list[int]) -> tuple[int, int]:
    renderer, dest = _JOB["renderer"], _JOB["dest"]
    return sum(_model_pages(renderer, i, dest) for i in indexes), len(indexes)
