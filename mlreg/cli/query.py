"""find latest/best/stage, search, resolve: thin shells over Registry.find_*, search and resolve."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from .common import JsonOpt, app, console, print_json, registry

find_app = typer.Typer(
    help="Find versions: the newest, the best by a metric, or every version in a stage. "
    "--model-type is the lineage type (base, continued); the training's params.model_type "
    "(lgbm, ...) is filtered with --param model_type=lgbm.",
    no_args_is_help=True,
)
app.add_typer(find_app, name="find")

ModelOpt = Annotated[str | None, typer.Option("--model", "-m", metavar="NAME", help="Only versions of this model.")]
ModelTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--model-type",
        metavar="T",
        help="Only versions whose lineage.model_type is T (base, continued, curriculum, ...): how the version was "
        "built. Not the training's params.model_type (lgbm, ...): use --param model_type=lgbm.",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param", metavar="K=V", help="Only versions whose params.K equals V, e.g. model_type=lgbm (repeatable)."
    ),
]


class VersionType(StrEnum):
    """Derived version type: `old` once another version names it as its base."""

    latest = "latest"
    old = "old"


FallbackOpt = Annotated[
    str | None,
    typer.Option(
        "--fallback-model-type",
        metavar="T",
        help="When no version of --model-type matches, retry with lineage.model_type T (e.g. base) and say so.",
    ),
]


@find_app.command("latest")
def find_latest(
    model: ModelOpt = None,
    model_type: ModelTypeOpt = None,
    version_type: Annotated[
        VersionType | None,
        typer.Option(
            "--version-type", help="latest: no other version enhances it; old: some version names it as its base."
        ),
    ] = None,
    fallback_model_type: FallbackOpt = None,
    param: ParamOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The newest matching version (by created_at, then version number)."""
    from ..api import parse_pairs

    vtype = version_type.value if version_type else None
    found = registry().find_latest(model, model_type, vtype, fallback_model_type, parse_pairs(param or [], "param"))
    _report(found, json_out, "newest")


@find_app.command("best")
def find_best(
    metric: Annotated[
        str,
        typer.Option("--metric", metavar="M", help="Metric to rank by, e.g. rmse_val or evaluation/best_mean_reward."),
    ],
    model: ModelOpt = None,
    model_type: ModelTypeOpt = None,
    higher_is_better: Annotated[
        bool | None,
        typer.Option(
            "--higher-is-better/--lower-is-better",
            help="Direction of the metric; by default taken from its name (rmse, mae, loss: lower; auc, accuracy, "
            "f1, corr, sharpe, reward, win_rate: higher).",
            show_default=False,
        ),
    ] = None,
    fallback_model_type: FallbackOpt = None,
    param: ParamOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The version with the best value of a metric (ties go to the newest)."""
    from ..api import parse_pairs

    found = registry().find_best(
        metric, model, model_type, higher_is_better, fallback_model_type, parse_pairs(param or [], "param")
    )
    word = "higher" if found.higher_is_better else "lower"
    _report(found, json_out, f"best {found.metric} = {found.value:g} ({word} is better)")


@find_app.command("stage")
def find_stage(
    stage: Annotated[str, typer.Argument(help="Stage name from mlreg.yaml, e.g. beta.")],
    param: ParamOpt = None,
    model: ModelOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every version in a stage, optionally filtered by params."""
    from ..api import parse_pairs

    views = registry().find_by_stage(stage, parse_pairs(param or [], "param"), model)
    _versions(views, json_out, f"no version is in stage {stage!r}" + (" with those params" if param else ""))


@app.command()
def search(
    expr: Annotated[
        str,
        typer.Argument(
            metavar="EXPR",
            help="MLflow-style filter, e.g. \"metrics.rmse_val < 0.07 and params.model_type = 'lgbm'\"; "
            "'' matches every version.",
        ),
    ],
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            metavar="KEY [ASC|DESC]",
            help="Sort key, e.g. 'metrics.rmse_val ASC' (repeatable; default: name, then version).",
        ),
    ] = None,
    max_results: Annotated[int | None, typer.Option("--max-results", metavar="N", help="At most N versions.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Versions matching a filter expression over metrics, params, tags and attributes."""
    views = registry().search(expr, order_by, max_results)
    _versions(views, json_out, "no version matches")


@app.command()
def resolve(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="REF", help="NAME@ALIAS, NAME@STAGE, NAME/3, NAME@latest, models:/NAME@ALIAS or models:/NAME/3."
        ),
    ],
    no_pull: Annotated[
        bool,
        typer.Option(
            "--no-pull",
            help="Store-backed versions: print the files' store URIs "
            "(one per line; --json: `path` is their store folder) instead of pulling "
            "them into the local cache.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print the folder holding the version's files: its folder in the registry, or for a store-backed version the
    local cache folder its files are pulled into first (--json: the record, that folder as `path`, the folder of
    metadata.json as `registry_path`, and absolute artifact paths)."""
    from .common import transfer_bar

    with transfer_bar("pull") as progress:
        found = registry().resolve(ref, pull=not no_pull, progress=progress)
    if json_out:
        return print_json(found.to_dict())
    print("\n".join(found.artifact_paths) if no_pull and found.stored else found.location)


def _report(found, json_out: bool, what: str) -> None:
    """A find latest/best answer: JSON, or one line and the version row; a fallback is said on stderr."""
    if found.fallback:
        print(
            f"Note: no version of lineage.model_type {found.requested_model_type!r} matches; "
            f"fell back to lineage.model_type {found.model_type!r}",
            file=sys.stderr,
        )
    if json_out:
        return print_json(found.to_dict())
    r = found.record
    ties = f"; tied with {', '.join(found.tied_with)}" if found.tied_with else ""
    print(f"{r.name} v{r.version}: {what} of {found.candidates} candidate(s){ties}")
    print(f"path: {found.view.folder}")
    from .. import render  # (rich: only for a table)

    console().print(render.versions_table([found.view]))


def _versions(views, json_out: bool, empty: str) -> None:
    if json_out:
        return print_json([v.to_dict() for v in views])
    if not views:
        print(empty)
        return
    from .. import render  # (rich: only for a table)

    console().print(render.versions_table(views))
