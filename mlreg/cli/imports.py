"""import dir (and other sources): bring existing registries into git."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import Branch, JsonOpt, NoCommit, app, print_json, registry, report_mutation

import_app = typer.Typer(help="Bring an existing registry into git (one commit).", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("dir")
def import_dir(
    path: Annotated[Path, typer.Argument(help="Folder of version folders, each holding a metadata.json "
                                         "(model_name, model_version, key_performance_metrics, ...).")],
    model: Annotated[Optional[str], typer.Option(help="Import every version into this model "
                                                 "(default: each metadata.json's model_name).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be imported; write nothing.")] = False,
    no_commit: NoCommit = False,
    branch: Branch = None,
    json_out: JsonOpt = False,
) -> None:
    """Import a folder-per-version layout: versions ordered by training_timestamp, files copied, one commit."""
    outcome = registry().import_dir(path, model, dry_run=dry_run, commit=not no_commit, branch=branch)
    if json_out:
        return print_json(outcome.to_dict() | {"dry_run": dry_run})
    for r in outcome.records:
        print(f"{'would import' if dry_run else 'imported'} {r.params['imported_from']} -> {r.name} v{r.version}")
    if not dry_run:
        report_mutation(outcome)
