"""init, register, list, show, validate, verify."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .common import (
    AllowLarge,
    Branch,
    JsonOpt,
    NoCommit,
    StoreOpt,
    app,
    console,
    print_json,
    registry,
    report_mutation,
    transfer_bar,
)

AllowDetached = Annotated[
    bool,
    typer.Option(
        "--allow-detached",
        help="Commit even when HEAD is detached (refused without it: no branch would keep the "
        "commit); --branch NAME or `git switch -c NAME` keep it on a branch instead.",
    ),
]


def writer(allow_detached: bool = False):
    """The Registry a write command works on (a commit on a detached HEAD only when asked)."""
    reg = registry()
    reg.allow_detached = allow_detached
    return reg


@app.command()
def init(
    preset: Annotated[
        str,
        typer.Option(
            help="Lifecycle preset: default (development/beta/champion/archived), "
            "candidate (none/candidate/production/archived) or aliases "
            "(Staging/Production aliases, no stages)."
        ),
    ] = "default",
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
) -> None:
    """Write mlreg.yaml and registry/ in the current git repository."""
    from ..api import Registry
    from .common import _state, told

    reg = told(Registry.open(_state["repo"], for_init=True))
    reg.allow_detached = allow_detached
    report_mutation(reg.init(preset, commit=not no_commit, branch=branch))


@app.command()
def register(
    name: Annotated[str, typer.Argument(help="Model name (letters, digits, '.', '_', '-').")],
    from_dir: Annotated[
        str, typer.Option("--from-dir", help="Training output folder (reads run_metadata.json there).")
    ],
    external: Annotated[
        bool, typer.Option("--external", help="Record files by absolute path and digest; do not copy them.")
    ] = False,
    param: Annotated[list[str] | None, typer.Option("--param", metavar="K=V", help="Extra param (repeatable).")] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", metavar="K=NUMBER", help="Extra metric (repeatable).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", metavar="K=V", help="Tag (repeatable).")] = None,
    description: Annotated[str | None, typer.Option(help="Human summary of the version.")] = None,
    experiment: Annotated[
        str | None, typer.Option(help="MLflow experiment name (overrides run_metadata.json).")
    ] = None,
    base: Annotated[
        str | None, typer.Option(metavar="NAME@REF", help="The version this one enhances (NAME alone: its latest).")
    ] = None,
    enhancement_type: Annotated[
        str | None, typer.Option(help="How it was enhanced: continued, replay, curriculum, adaptive, ...")
    ] = None,
    store: StoreOpt = None,
    allow_large: AllowLarge = False,
    follow_symlinks: Annotated[
        bool,
        typer.Option(
            "--follow-symlinks",
            help="Copy the bytes of symlinks' targets (targets must be inside the folder); default: refuse symlinks.",
        ),
    ] = False,
    no_commit: NoCommit = False,
    branch: Branch = None,
    allow_detached: AllowDetached = False,
    json_out: JsonOpt = False,
) -> None:
    """Register a new version from a training output folder (one commit)."""
    from ..api import parse_metrics, parse_pairs
    from ..errors import UsageError

    if not from_dir.strip():
        raise UsageError("--from-dir needs a folder")
    with transfer_bar("upload") as progress:
        outcome = writer(allow_detached).register(
            name,
            from_dir,
            external=external,
            params=parse_pairs(param or [], "param"),
            metrics=parse_metrics(metric or []),
            tags=parse_pairs(tag or [], "tag"),
            description=description,
            experiment=experiment,
            base=base,
            enhancement_type=enhancement_type,
            follow_symlinks=follow_symlinks,
            commit=not no_commit,
            branch=branch,
            store=store,
            allow_large=allow_large,
            progress=progress,
        )
    report_mutation(outcome, json_out)
    for note in [] if json_out else outcome.notes:
        print(f"note: {note}", file=sys.stderr)


@app.command("list")
def list_(
    versions: Annotated[bool, typer.Option("--versions", help="One row per version instead of per model.")] = False,
    stage: Annotated[str | None, typer.Option(help="Only versions in this stage (implies --versions).")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's versions (implies --versions).")] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="EXPR",
            help="Only versions matching an MLflow-style filter, as in `mlreg search` (implies --versions).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List models, or versions with --versions."""
    reg = registry()
    if versions or stage or model or filter_:
        views = reg.versions(model=model, stage=stage)
        if filter_:
            keep = {(v.record.name, v.record.version) for v in reg.search(filter_)}
            views = [v for v in views if (v.record.name, v.record.version) in keep]
        if json_out:
            return print_json([v.to_dict() for v in views])
        from .. import render  # (rich: only for a table)

        return console().print(render.versions_table(views))
    summaries = reg.models()
    if json_out:
        return print_json([m.to_dict() for m in summaries])
    from .. import render

    console().print(render.models_table(summaries))


@app.command()
def show(
    ref: Annotated[
        str, typer.Argument(metavar="NAME[@REF]", help="A model, or one version: NAME@3, NAME@champion, NAME@latest.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Show one model with its versions, or one version in full."""
    from ..api import split_ref

    name, vref = split_ref(ref)
    reg = registry()
    if vref is None:
        view = reg.show(name)
        if json_out:
            return print_json(view.to_dict())
        from .. import render  # (rich: only for a table)

        c = console()
        c.print(f"[bold]{view.model.name}[/bold]  {view.model.description}")
        for k, v in sorted(view.model.tags.items()):
            c.print(f"  tag {k} = {v}")
        for k, v in sorted(view.model.aliases.items()):
            c.print(f"  alias {k} -> v{v}")
        return c.print(render.versions_table(view.versions, model_column=False))
    version = reg.get(name, vref)
    if json_out:
        return print_json(version.to_dict())
    from .. import render

    c = console()
    for t in render.version_detail(version):
        c.print(t)


@app.command()
def validate(
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            metavar="REF",
            help="Judge the change instead, as it "
            "would land: merged into REF's tip, by REF's mlreg.yaml. Refuses "
            "altered, deleted or renumbered versions, illegal stage moves, "
            "symlinks, and every problem of the models it touches.",
        ),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option("--head", metavar="REF", help="With --base: the change is REF instead of the working tree."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check every registry file against its schema and the registry's invariants."""
    if head and not base:
        raise typer.BadParameter("--head needs --base", param_hint="--head")
    found = registry().validate_change(base, head) if base else registry().validate()
    if json_out:
        print_json({"valid": not found, "problems": found})
    else:
        import sys

        for p in found:
            print(f"Error: {p}", file=sys.stderr)
        if not found:
            print("registry is valid")
    if found:
        raise typer.Exit(1)


@app.command()
def verify(
    ref: Annotated[
        str | None, typer.Argument(metavar="NAME[@REF]", help="A model (every version) or one version.")
    ] = None,
    download: Annotated[
        bool,
        typer.Option(
            "--download",
            help="Stored files: download and re-hash them (default: check that each object exists with its size).",
        ),
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache",
            help="Re-hash every file of the local cache and remove those "
            "that do not match (the next pull fetches them again).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Re-hash artifacts against their recorded digests (external files when reachable; stored files in the store)."""
    from .. import render
    from ..api import split_ref, verify_cache

    if ref is None and not cache:
        raise typer.BadParameter("give NAME[@REF], or --cache", param_hint="NAME[@REF]")
    checks = []
    if ref is not None:
        name, vref = split_ref(ref)
        with transfer_bar("verify") as progress:
            checks = registry().verify(name, vref, download=download, progress=progress)
    cached = verify_cache() if cache else []
    bad = [c for c in [*checks, *cached] if c.status in ("mismatch", "missing", "not-a-file")]
    if json_out:
        print_json(
            {
                "ok": not bad,
                "artifacts": [c.to_dict() for c in checks],
                **({"cache": [c.to_dict() for c in cached]} if cache else {}),
            }
        )
    else:
        rows = [[f"{c.model} v{c.version}", c.location, c.status] for c in checks]
        rows += [["cache", c.path, f"{c.status} (removed)"] for c in cached if c.status != "ok"]
        if rows:
            console().print(render.table(None, ["version", "artifact", "status"], rows))
        if cache:
            print(f"cache: {len(cached)} file(s) checked, {sum(c.status != 'ok' for c in cached)} removed")
    if bad:
        raise typer.Exit(1)
