"""import dir (and other sources): bring existing registries into git."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (
    AllowLarge,
    Branch,
    JsonOpt,
    NoCommit,
    StoreOpt,
    app,
    print_json,
    registry,
    report_mutation,
    transfer_bar,
)

import_app = typer.Typer(help="Bring an existing registry into git (one commit).", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("dir")
def import_dir(
    path: Annotated[
        Path,
        typer.Argument(
            help="Folder of version folders, each holding a metadata.json "
            "(model_name, model_version, key_performance_metrics, ...)."
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(help="Import every version into this model (default: each metadata.json's model_name)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be imported; write nothing.")] = False,
    store: StoreOpt = None,
    allow_large: AllowLarge = False,
    no_commit: NoCommit = False,
    branch: Branch = None,
    json_out: JsonOpt = False,
) -> None:
    """Import a folder-per-version layout: versions ordered by training_timestamp, files copied (or uploaded to
    the object store), one commit."""
    with transfer_bar("upload") as progress:
        outcome = registry().import_dir(
            path,
            model,
            dry_run=dry_run,
            commit=not no_commit,
            branch=branch,
            store=store,
            allow_large=allow_large,
            progress=progress,
        )
    if json_out:
        return print_json(outcome.to_dict() | {"dry_run": dry_run})
    for r in outcome.records:
        print(f"{'would import' if dry_run else 'imported'} {r.params['imported_from']} -> {r.name} v{r.version}")
    for note in outcome.notes:
        print(f"note: {note}")
    if not outcome.records:
        print("nothing to import")
    elif not dry_run:
        report_mutation(outcome)


@import_app.command("mlflow")
def import_mlflow(
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            metavar="URI",
            help="MLflow to import from (server URL or sqlite:///path.db). Default: MLFLOW_TRACKING_URI, then "
            "mlflow.tracking_uri in mlreg.yaml.",
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", metavar="NAME", help="Import only this registered model (repeat for more)."),
    ] = None,
    external: Annotated[
        bool,
        typer.Option(
            "--external",
            help="Record artifacts by their MLflow URI (digests from a temporary download) instead "
            "of copying them into git.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be imported (artifacts not downloaded); write nothing.")
    ] = False,
    no_commit: NoCommit = False,
    branch: Branch = None,
    json_out: JsonOpt = False,
) -> None:
    """Import an MLflow model registry: model.yaml per registered model, version N -> vN (numbers kept), one commit.

    Reads MLflow only. Afterwards `mlreg sync` to the same server adopts the imported versions (it adds mlreg's tags).
    """
    reg = registry()
    options = dict(external=external, dry_run=dry_run, commit=not no_commit, branch=branch)
    err = _stderr()
    if err.is_terminal and not json_out and not dry_run:
        report = _import_with_progress(reg, tracking_uri, model, options, err)
    else:
        report = reg.import_mlflow(tracking_uri, model, **options)
    if json_out:
        return print_json(report.to_dict())
    print(f"MLflow: {report.tracking_uri} ({report.uri_source})")
    for r in report.records:
        files = "" if dry_run else f", {len(r.artifacts)} file(s)"
        print(f"{'would import' if dry_run else 'imported'} {r.name} v{r.version} (stage {r.stage}{files})")
    for note in report.notes:
        print(f"note: {note}")
    if not report.outcome.paths:
        print("nothing to import")
    elif not dry_run:
        report_mutation(report.outcome)


def _stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _import_with_progress(reg, tracking_uri, model, options, err):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("reading MLflow", total=None)

        def progress(label: str, total: int) -> None:
            bar.update(task, total=total, advance=1, description=f"downloading {label}"[:40])

        return reg.import_mlflow(tracking_uri, model, progress=progress, **options)
