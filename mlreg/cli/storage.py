"""pull, get, gc: model files in object storage (thin shells over Registry.pull / gc and api.get)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import JsonOpt, app, print_json, registry, transfer_bar

OutDir = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="DIR", help="Folder to place the files "
                                                "in (read-only copies, checked against the record).")]


@app.command()
def pull(
    ref: Annotated[str, typer.Argument(metavar="REF", help="NAME@ALIAS, NAME@STAGE, NAME/3, NAME@latest or "
                                       "models:/NAME@ALIAS.")],
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
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="DIR",
                                                   help="Folder for the files (default: ./NAME-vN).")] = None,
    rev: Annotated[Optional[str], typer.Option("--rev", metavar="BRANCH", help="Branch or tag of the registry "
                                               "repository (default: its default branch).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Fetch one model version from a remote registry with no checkout: reads only registry/NAME/ (a partial,
    sparse clone), then pulls the files."""
    from ..api import get as get_version

    with transfer_bar("get") as progress:
        report = get_version(repo_url, ref, output, progress, rev)
    _report(report, json_out)


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    min_age: Annotated[float, typer.Option("--min-age", metavar="MINUTES", help="Keep unrecorded objects younger "
                                           "than this (a register may be uploading them).")] = 60.0,
    json_out: JsonOpt = False,
) -> None:
    """Remove objects in the store that no version records (on any branch, or in the work tree), and abort
    multipart uploads that were never completed."""
    report = registry().gc(dry_run=dry_run, min_age=min_age * 60)
    if json_out:
        return print_json(report.to_dict())
    verb = "would remove" if dry_run else "removed"
    for o in report.orphans:
        print(f"{verb} {o.uri} ({o.size} bytes)")
    for o in report.recent:
        print(f"kept {o.uri}: unrecorded but younger than {min_age:g} minutes")
    for u in report.uploads:
        print(f"{'would abort' if dry_run else 'aborted'} the multipart upload of {u.uri} (never completed)")
    print(f"{report.store}: {report.objects} object(s), {report.recorded} recorded; {verb} {len(report.orphans)} "
          f"({report.orphan_bytes} bytes)")


def _report(report, json_out: bool) -> None:
    if json_out:
        return print_json(report.to_dict())
    moved = (f"downloaded {report.downloaded_files} file(s), {report.downloaded_bytes} bytes"
             if report.downloaded_files else "nothing to download")
    cached = f"; {report.cached_files} already cached" if report.cached_files else ""
    print(f"{report.ref}: {moved}{cached}")
    for uri in report.external:
        print(f"not placed (--external file, recorded by path): {uri}")
    print(report.dest)
