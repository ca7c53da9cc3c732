"""pull, get, gc: model files in object storage (thin shells over Registry.pull / gc and api.fetch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOpt, app, print_json, registry, transfer_bar

OutDir = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="DIR",
        help="Folder to place the files in (read-only copies, checked against the record).",
    ),
]


@app.command()
def pull(
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="NAME@ALIAS, NAME@STAGE, NAME/3, NAME@latest or models:/NAME@ALIAS.")
    ],
    output: OutDir = None,
    json_out: JsonOpt = False,
) -> None:
    """Download a version's files into the local cache (sha256 checked) and place them in DIR (default: the
    cache's folder for the version); files already cached are not downloaded again."""
    with transfer_bar("pull") as progress:
        report = registry().pull(ref, output, progress)
    _report(report, json_out)


@app.command()
def get(
    repo_url: Annotated[str, typer.Argument(metavar="REPO_URL", help="The registry's git repository (URL or path).")],
    ref: Annotated[str, typer.Argument(metavar="NAME@REF", help="The version: NAME@champion, NAME/3, NAME@latest.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="DIR", help="Folder for the files (default: ./NAME-vN).")
    ] = None,
    rev: Annotated[
        str | None,
        typer.Option(
            "--rev", metavar="BRANCH", help="Branch or tag of the registry repository (default: its default branch)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Fetch one model version from a remote registry with no checkout: reads only registry/NAME/ (a partial,
    sparse clone), then pulls the files."""
    from ..api import fetch

    with transfer_bar("get") as progress:
        report = fetch(repo_url, ref, output, progress, rev)
    _report(report, json_out)


@app.command()
def gc(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show exactly what a real run would mark, delete and abort; change nothing in the store."
        ),
    ] = False,
    grace: Annotated[
        str,
        typer.Option(
            "--grace",
            metavar="DURATION",
            help="How long an object stays marked before "
            "a later run may delete it: 7d, 12h, 30m, 0 (default 7d). A register must "
            "commit and push within it.",
        ),
    ] = "7d",
    json_out: JsonOpt = False,
) -> None:
    """Fetch every remote, then mark this registry's objects in the store that no version records (on any ref,
    tag, stash, work tree or index of this clone or what its remotes have), and delete those an earlier run
    marked at least the grace period ago and that are still unrecorded. Refuses, deleting nothing, when a remote
    cannot be fetched or a record cannot be read."""
    report = registry().gc(dry_run=dry_run, grace=grace)
    if json_out:
        return print_json(report.to_dict())
    shown = report.to_dict()
    would = "would " if dry_run else ""
    for o in shown["deleted"]:
        print(f"{would}delete {o['uri']} ({o['size']} bytes): unrecorded, marked over {grace} ago")
    for o in shown["marked"]:
        print(f"{would}mark {o['uri']} ({o['size']} bytes): unrecorded; a run after {grace} deletes it if still so")
    for o in shown["waiting"]:
        print(f"keep {o['uri']}: marked, grace period not over")
    for u in shown["aborted_uploads"]:
        print(f"{would}abort the multipart upload of {u['uri']} (never completed)")
    fetched = f"fetched {', '.join(report.remotes)}; " if report.remotes else ""
    print(
        f"{shown['store']}: {fetched}{report.objects} object(s), {report.recorded} recorded; {would}delete "
        f"{len(report.deleted)} ({report.deleted_bytes} bytes), {would}mark {len(report.marked)}, "
        f"{len(report.waiting)} waiting"
    )


def _report(report, json_out: bool) -> None:
    if json_out:
        return print_json(report.to_dict())
    moved = (
        f"downloaded {report.downloaded_files} file(s), {report.downloaded_bytes} bytes"
        if report.downloaded_files
        else "nothing to download"
    )
    cached = f"; {report.cached_files} already cached" if report.cached_files else ""
    print(f"{report.ref}: {moved}{cached}")
    for uri in report.external:
        print(f"not placed (--external file, recorded by path): {uri}")
    print(report.dest)
