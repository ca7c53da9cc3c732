"""What every command shares: the app, option aliases, opening the registry, output helpers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from .lazy import LazyGroup

app = typer.Typer(
    name="mlreg",
    cls=LazyGroup,  # `mlreg CMD` imports and builds only CMD's module (lazy.py)
    help="A Git-native model registry: versions are folders in git, promotions are commits, MLflow is a mirror.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of a table.")]
NoCommit = Annotated[bool, typer.Option("--no-commit", help="Write the files only; make no git commit.")]
Branch = Annotated[
    str | None,
    typer.Option(
        "--branch",
        metavar="NAME",
        help="Make the commit on a new branch NAME (for a pull request); the checkout is left untouched.",
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URI",
        help="Object store for the files (s3://BUCKET/PREFIX or file:///FOLDER); default: "
        "artifacts.store in mlreg.yaml. Git then keeps only metadata.json.",
    ),
]
AllowLarge = Annotated[
    bool,
    typer.Option("--allow-large", help="Commit files larger than artifacts.git_max_file_mb to git anyway (no store)."),
]

_state: dict[str, Any] = {"repo": None}


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"mlreg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_version, help="Print mlreg's version and exit.")
    ] = False,
    repo: Annotated[
        Path | None, typer.Option("--repo", "-C", help="Registry repository (default: the current folder).")
    ] = None,
    traceback: Annotated[
        bool, typer.Option("--traceback", hidden=True, help="Show a Python traceback on unexpected errors.")
    ] = False,
) -> None:
    """mlreg: a Git-native model registry."""
    _state["repo"] = repo
    _state["traceback"] = traceback


def registry():
    """The Registry the command works on."""
    from ..api import Registry

    return told(Registry.open(_state["repo"]))


def told(reg):
    """Say on stderr (one line) when opening the registry finished or undid an interrupted write."""
    for note in reg.recovered:
        print(note, file=sys.stderr)
    return reg


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")


def console():
    from rich.console import Console

    # a terminal (or $COLUMNS) sets the width tables fit into; piped output is for grep and logs: 200
    wide = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 200
    return Console(highlight=False, soft_wrap=False, width=wide)


def report_mutation(outcome, json_out: bool = False) -> None:
    """One line on what a mutating command did (or its JSON)."""
    if json_out:
        print_json(outcome.to_dict())
        return
    what = (outcome.model or "registry") + (f" v{outcome.version}" if outcome.version else "")
    if not outcome.paths and not outcome.commit:  # a no-op (alias set to where it already points, ...)
        print(f"{outcome.action}: {what}: " + ("; ".join(outcome.notes) or "nothing to change, no commit"))
    elif outcome.branch:
        print(f"{outcome.action}: {what}: committed {outcome.commit[:10]} on new branch {outcome.branch}")
        print(f"Next: git push -u origin {outcome.branch}   # then open a pull request from {outcome.branch}")
    elif outcome.commit:
        print(f"{outcome.action}: {what}: committed {outcome.commit[:10]}")
    else:
        print(f"{outcome.action}: {what}: wrote {len(outcome.paths)} file(s), no commit (--no-commit)")


@contextmanager
def transfer_bar(what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A byte progress bar on stderr when it is a terminal (the callback to hand the library), else None."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(what, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, advance=done, total=total)

    with bar:
        yield advance
