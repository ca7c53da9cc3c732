"""report: the static site of the registry at a git ref (thin shell over Registry.report)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOpt, app, print_json, registry


@app.command()
def report(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Folder to write the site into (replaced if an earlier `mlreg report` wrote it).",
        ),
    ] = Path("site"),
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", metavar="NAME", help="Only this model (repeatable); default: every model."),
    ] = None,
    at: Annotated[
        str,
        typer.Option(
            "--at",
            metavar="REF",
            help="Git ref to report on (branch, tag or commit); "
            "the committed registry is read from git, never the working tree.",
        ),
    ] = "HEAD",
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", metavar="N", min=1, help="Worker processes (default: one per CPU on big registries)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a static HTML site of the registry: models, versions, metric plots, lineage, stage history."""
    built = registry().report(out, model or None, at, jobs=jobs, progress=_progress() if not json_out else None)
    if json_out:
        return print_json(built.to_dict())
    for p in built.problems:
        print(f"Warning: {p}", file=sys.stderr)
    print(
        f"report: {built.models} model(s), {built.versions} version(s), {built.pages} page(s) from {built.ref} "
        f"({built.commit[:10]}) in {built.seconds:.1f} s"
    )
    print(f"open {built.index.as_uri()}")


def _progress():
    """A progress line on stderr when it is a terminal (big registries take a while)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rreport: {done}/{total} models", end=end, file=sys.stderr, flush=True)

    return show
