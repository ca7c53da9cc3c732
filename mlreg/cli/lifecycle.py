"""promote, alias, tag, describe, history."""

from __future__ import annotations

from typing import Annotated

import typer

from ..api import split_ref
from .common import Branch, JsonOpt, NoCommit, app, registry, report_mutation
from .core import AllowDetached, writer

alias_app = typer.Typer(help="Named pointers to versions (unique per model).", no_args_is_help=True)
tag_app = typer.Typer(help="Human tags on a model (NAME) or a version (NAME@REF).", no_args_is_help=True)
app.add_typer(alias_app, name="alias")
app.add_typer(tag_app, name="tag")

Target = Annotated[str, typer.Argument(metavar="NAME[@REF]", help="A model, or a version: NAME@3, NAME@champion.")]


@app.command()
def promote(
    ref: Annotated[str, typer.Argument(metavar="NAME@REF", help="The version to move: NAME@3, NAME@latest, ...")],
    stage: Annotated[str, typer.Argument(help="Target stage (see mlreg.yaml).")],
    reason: Annotated[
        str | None, typer.Option("--reason", "-r", help="Why; recorded in stage_history and the commit.")
    ] = None,
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
    json_out: JsonOpt = False,
) -> None:
    """Move a version to a stage along an allowed transition (one commit)."""
    name, vref = split_ref(ref)
    outcome = writer(allow_detached).promote(name, vref or "latest", stage, reason, commit=not no_commit, branch=branch)
    report_mutation(outcome, json_out)
    if not json_out:
        for d in outcome.demoted:
            print(f"demoted {name} v{d} (new {stage} promoted)")


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[
        str | None, typer.Option("--reason", "-r", help="Why; recorded in stage_history and the commit.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="N",
            help="The version to give the stage back to "
            "(default: the one that held it most recently before the current "
            "holder); it must have held the stage before.",
        ),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage",
            help="The exclusive stage to roll back (default: the lifecycle's only exclusive stage, e.g. champion).",
        ),
    ] = None,
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
    json_out: JsonOpt = False,
) -> None:
    """Give an exclusive stage back to the version that held it before, in one commit; the current holder is demoted."""
    outcome = writer(allow_detached).rollback(name, to, reason, stage, commit=not no_commit, branch=branch)
    report_mutation(outcome, json_out)
    if not json_out:
        for d in outcome.demoted:
            print(f"demoted {name} v{d} (rolled back to v{outcome.version})")


@alias_app.command("set")
def alias_set(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. Staging.")],
    ref: Annotated[str, typer.Argument(help="Version ref: 3, v3, latest, another alias, an exclusive stage.")],
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
    json_out: JsonOpt = False,
) -> None:
    """Point ALIAS at a version (moves it if set)."""
    report_mutation(writer(allow_detached).alias_set(name, alias, ref, commit=not no_commit, branch=branch), json_out)


@alias_app.command("rm")
@alias_app.command("delete", hidden=True)  # what a newcomer types first; the same command
def alias_rm(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
    json_out: JsonOpt = False,
) -> None:
    """Remove an alias (`alias delete` works too)."""
    report_mutation(writer(allow_detached).alias_rm(name, alias, commit=not no_commit, branch=branch), json_out)


@app.command()
def describe(
    name: Annotated[str, typer.Argument(help="Model name.")],
    description: Annotated[str, typer.Argument(help="What the model is for (shown in list, show and MLflow).")],
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
    json_out: JsonOpt = False,
) -> None:
    """Set a model's description (versions keep their own, immutable, descriptions)."""
    report_mutation(writer(allow_detached).describe(name, description, commit=not no_commit, branch=branch), json_out)


@tag_app.command("set")
def tag_set(
    target: Target,
    key: Annotated[str, typer.Argument(help="Tag key.")],
    value: Annotated[str, typer.Argument(help="Tag value.")],
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
    json_out: JsonOpt = False,
) -> None:
    """Set a tag on a model or a version."""
    name, vref = split_ref(target)
    report_mutation(
        writer(allow_detached).tag_set(name, vref, key, value, commit=not no_commit, branch=branch), json_out
    )


@tag_app.command("rm")
@tag_app.command("delete", hidden=True)
def tag_rm(
    target: Target,
    key: Annotated[str, typer.Argument(help="Tag key.")],
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
    json_out: JsonOpt = False,
) -> None:
    """Remove a tag from a model or a version (`tag delete` works too)."""
    name, vref = split_ref(target)
    report_mutation(writer(allow_detached).tag_rm(name, vref, key, commit=not no_commit, branch=branch), json_out)


@app.command()
def history(
    target: Target,
    json_out: JsonOpt = False,
) -> None:
    """Who did what when and why: registrations, promotions, demotions, alias moves, tag changes."""
    from .. import render
    from .common import console, print_json

    name, vref = split_ref(target)
    events = registry().history(name, vref)
    if json_out:
        return print_json([e.to_dict() for e in events])
    rows = [
        [e.at, e.by.split(" <")[0], e.action, e.version and f"v{e.version}", e.detail, e.reason, (e.commit or "")[:10]]
        for e in events
    ]
    console().print(render.table(None, ["at", "by", "action", "version", "what", "reason", "commit"], rows))
