"""diff: what a change does to the registry, in words (text, markdown for a pull request, or JSON)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from .common import JsonOpt, app, print_json, registry


class Format(StrEnum):
    text = "text"
    md = "md"
    json = "json"


@app.command()
def diff(
    base: Annotated[
        str | None,
        typer.Argument(
            metavar="[BASE]",
            help="The branch the change would merge into (default: the default branch: "
            "origin/HEAD, else main or master).",
        ),
    ] = None,
    head: Annotated[
        str | None,
        typer.Argument(
            metavar="[HEAD]",
            help="The change, a git ref (default: the working tree). When BASE is on HEAD's "
            "first-parent history, each commit between them is one step.",
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="text, md (markdown for a pull request summary) or json.")
    ] = Format.text,
    json_out: JsonOpt = False,
) -> None:
    """Say what a change does to the registry: new versions, promotions, demotions, alias and tag moves."""
    changes = registry().diff(base, head)
    if json_out or fmt is Format.json:
        return print_json(changes.to_dict())
    from ..render.changes import words

    sys.stdout.write("\n".join(words(changes, markdown=fmt is Format.md)) + "\n")
