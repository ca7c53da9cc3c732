"""sync (mirror into MLflow) and ui (MLflow's UI over the local store)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .common import JsonOpt, app, console, print_json, registry

_TITLES = {"sync": "sync", "check": "check (nothing written)", "dry-run": "dry run (nothing written)"}
_ROWS = {"model": "registered models", "run": "runs", "version": "model versions", "alias": "aliases"}


@app.command()
def sync(
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            metavar="URI",
            help="MLflow tracking URI. Default: MLFLOW_TRACKING_URI, then mlflow.tracking_uri in mlreg.yaml, "
            "then a local store in .mlreg/ (sqlite + artifact folder).",
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", metavar="NAME", help="Sync only this model.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Compare only: list what differs (missing, stale, edited in MLflow); exit 1 if anything does.",
        ),
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete the model versions and runs mlreg made that git no longer has.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite hand edits of what mlreg made; never deletes what mlreg did not make."),
    ] = False,
    artifacts: Annotated[
        bool,
        typer.Option(
            "--artifacts",
            help="Also list the artifact store: every mirrored file must be there with its recorded size "
            "(one listing per run), and with --check every object of a store-backed version; a sync "
            "uploads missing run files again.",
        ),
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Re-create the registered models that have versions to create (their runs stay), so "
            "MLflow numbers them as git does again after numbers were burnt.",
        ),
    ] = False,
    allow_unmerged: Annotated[
        bool,
        typer.Option(
            "--allow-unmerged",
            help="Sync a server from a commit that is not on the remote's default branch (a private "
            "server; a shared one mirrors only what landed).",
        ),
    ] = False,
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="How long to wait for another sync of this registry to finish (default 300; 0: stop at once).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Mirror the registry into MLflow: models, runs, versions, tags, aliases. Idempotent; rerun after a stop."""
    reg = registry()
    options = dict(
        model=model,
        dry_run=dry_run,
        check=check,
        prune=prune,
        force=force,
        artifacts=artifacts,
        repair=repair,
        allow_unmerged=allow_unmerged,
        wait=wait,
        on_wait=_waiting,
    )
    err = console_err()
    try:
        if err.is_terminal and not json_out:
            report = _with_progress(reg, tracking_uri, options, err)
        else:
            report = reg.sync(tracking_uri, **options)
    except KeyboardInterrupt:
        print("Interrupted; rerun mlreg sync to finish (it picks up where it stopped)", file=sys.stderr)
        raise typer.Exit(130) from None
    if json_out:
        print_json(report.to_dict())
    else:
        _render(report)
    if not report.ok:
        raise typer.Exit(1)


def _waiting(holder: str) -> None:
    print(f"Waiting for another mlreg sync of this registry to finish ({holder})", file=sys.stderr, flush=True)


def console_err():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _with_progress(reg, tracking_uri, options, err):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("reading MLflow and git", total=None)

        def progress(label: str, total: int) -> None:
            bar.update(task, total=total, advance=1, description=label[:40])

        return reg.sync(tracking_uri, progress=progress, **options)


def _render(report) -> None:
    from .. import render

    out = console()
    out.print(f"MLflow: {report.tracking_uri} ({report.uri_source})")
    counts, totals = report.counts(), report.totals()
    cols = ["created", "updated", "unchanged", "conflicts", "pruned"]
    cols += [c for c in ("extra", "kept", "foreign") if totals[c]]
    rows = [[_ROWS[k], *(counts[k][c] for c in cols)] for k in _ROWS]
    rows.append(["total", *(totals[c] for c in cols)])
    out.print(render.table(_TITLES[report.mode], ["object", *cols], rows))
    shown = (
        report.drift
        if report.mode != "sync"
        else [i for i in report.items if i.status in ("conflict", "kept", "broken")]
    )
    shown = shown + report.foreign
    if shown:
        out.print(
            render.table(
                None, ["status", "object", "name", "detail"], [[i.status, i.kind, i.name, i.detail] for i in shown]
            )
        )
    _verdict(report)


def _verdict(report) -> None:
    for line in report.warnings:
        print(f"Warning: {line}", file=sys.stderr)
    if report.rebuilt:
        print(
            f"Re-created registered model(s) {', '.join(report.rebuilt)} so that MLflow's versions are git's",
            file=sys.stderr,
        )
    if report.foreign:
        print(
            f"Warning: {len(report.foreign)} object(s) in MLflow not managed by git were left alone "
            "(listed as foreign)",
            file=sys.stderr,
        )
    n = len(report.conflicts)
    if report.mode == "check":
        msg = f"{len(report.drift)} difference(s) between git and MLflow" if report.drift else "MLflow matches git"
        print(msg, file=sys.stderr if report.drift else sys.stdout)
    elif n and report.mode == "sync":
        hint = (
            "--force overwrites only what mlreg made; fix the rest in MLflow"
            if report.forced
            else "Fix them in MLflow, or rerun with --force to overwrite what mlreg made"
        )
        print(f"Error: {n} conflict(s) in MLflow; nothing was written. {hint}.", file=sys.stderr)
    elif n:
        print(f"Error: {n} conflict(s) left (sync would stop)", file=sys.stderr)
    if report.broken and report.mode == "sync":
        print(
            f"Error: {len(report.broken)} problem(s) on the server that sync cannot mend (listed above)",
            file=sys.stderr,
        )


@app.command()
def ui(
    port: Annotated[
        int, typer.Option("--port", "-p", min=1, max=65535, help="Port on 127.0.0.1 for MLflow's UI (must be free).")
    ] = 5000,
) -> None:
    """Serve MLflow's UI over the local store in .mlreg/ on http://127.0.0.1:PORT (Ctrl-C stops it)."""
    registry().ui(port, lambda url: print(f"MLflow UI on {url} (local store in .mlreg/); Ctrl-C stops it", flush=True))
