"""Find and resolve: pure functions over version views (the search expressions are in search.py)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MlregError, NotFound

if TYPE_CHECKING:
    from .views import VersionView

VERSION_TYPES = ("latest", "old")

# -- metric direction ------------------------------------------------------------------------------
LOWER_IS_BETTER = ("rmse", "mae", "mse", "mape", "loss", "logloss", "nll", "error")
HIGHER_IS_BETTER = (
    "auc",
    "accuracy",
    "acc",
    "f1",
    "corr",
    "sharpe",
    "sortino",
    "reward",
    "return",
    "returns",
    "win_rate",
    "precision",
    "recall",
    "r2",
)


def metric_direction(metric: str) -> bool | None:
    """True when a higher value of `metric` is better, False when lower is, None when the name does not say."""
    words = [w for w in re.split(r"[^a-z0-9]+", metric.lower()) if w]
    joined = "_" + "_".join(words) + "_"
    lower = any(f"_{k}_" in joined for k in LOWER_IS_BETTER)
    higher = any(f"_{k}_" in joined for k in HIGHER_IS_BETTER)
    if lower == higher:
        return None
    return higher != ("neg" in words)  # sklearn-style neg_rmse: higher is better


def direction(metric: str, higher_is_better: bool | None) -> bool:
    """The given direction, else the one the metric's name implies; an unknown name is an error, not a guess."""
    if higher_is_better is not None:
        return higher_is_better
    found = metric_direction(metric)
    if found is None:
        raise MlregError(
            f"cannot tell whether a higher or a lower {metric!r} is better: pass --higher-is-better or "
            f"--lower-is-better (higher_is_better= in Python); names with {', '.join(LOWER_IS_BETTER)} are "
            f"lower-is-better, names with {', '.join(HIGHER_IS_BETTER)} higher-is-better"
        )
    return found


# -- find ------------------------------------------------------------------------------------------
@dataclass
class FindResult:
    """The version `find latest` / `find best` picked, and how it was picked."""

    query: str  # latest | best
    view: VersionView
    candidates: int
    requested_model_type: str | None = None
    model_type: str | None = None  # the model type that matched: the fallback one when `fallback`
    fallback: bool = False
    metric: str | None = None
    higher_is_better: bool | None = None
    value: float | None = None
    tied_with: list[str] = field(default_factory=list)

    @property
    def record(self):
        return self.view.record

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "fallback": self.fallback,
            "requested_model_type": self.requested_model_type,
            "model_type": self.model_type,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "value": self.value,
            "tied_with": self.tied_with,
            "candidates": self.candidates,
            "version": self.view.to_dict(),
        }


def _newest(v: VersionView) -> tuple[str, int]:
    return v.record.created_at, v.record.version


def number(x: Any) -> float | None:
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    return x if ok else None


def _of_type(
    views: Iterable[VersionView], model_type: str | None, version_type: str | None, params: dict[str, str] | None = None
) -> list[VersionView]:
    return [
        v
        for v in views
        if (model_type is None or v.record.lineage.model_type == model_type)
        and (version_type is None or v.version_type == version_type)
        and all(v.record.params.get(k) == str(want) for k, want in (params or {}).items())
    ]


def _criteria(
    model: str | None, model_type: str | None, params: dict[str, str] | None = None, **more: str | None
) -> str:
    parts = [f"model {model!r}" if model else "any model"]
    parts += [f"lineage.model_type {model_type!r}"] if model_type else []
    parts += [f"params.{k} {v!r}" for k, v in (params or {}).items()]
    parts += [f"{k} {v!r}" for k, v in more.items() if v]
    return ", ".join(parts)


def model_type_hint(views: Iterable[VersionView], model_type: str | None) -> str:
    """Why a --model-type matched nothing, when it names no lineage type: `model_type` means two things (the
    lineage flag, base/continued; the training's params.model_type, lgbm) and the user may want the other."""
    if model_type is None:
        return ""
    views = list(views)
    lineage = sorted({v.record.lineage.model_type for v in views})
    if model_type in lineage:
        return ""
    hint = (
        f"; --model-type filters on lineage.model_type ({', '.join(lineage) or 'none here'}: how a version was built)"
    )
    if any(v.record.params.get("model_type") == model_type for v in views):
        hint += (
            f"; {model_type!r} is a params.model_type value: filter on it with --param model_type={model_type} "
            f"(params={{'model_type': {model_type!r}}} in Python) or "
            f"`mlreg search \"params.model_type = '{model_type}'\"`"
        )
    return hint


def fallback_type(model_type: str | None, fallback: str | None) -> str | None:
    """The lineage model type tried when `model_type` finds nothing; None when there is no second try."""
    return fallback if fallback and model_type is not None and fallback != model_type else None


def _with_fallback(
    pick: Callable[[str | None], FindResult | None],
    model_type: str | None,
    fallback: str | None,
    nothing: str,
    hint: str = "",
) -> FindResult:
    """Try `model_type`; if nothing matches and a different fallback is given, try that and say so."""
    found = pick(model_type)
    second = fallback_type(model_type, fallback)
    if found is None and second is not None:
        found = pick(second)
        if found is not None:
            found.fallback = True
        else:
            nothing += f" (nor with the fallback lineage.model_type {fallback!r})"
    if found is None:
        raise NotFound(nothing + hint)
    found.requested_model_type = model_type
    return found


def find_latest(
    views: list[VersionView],
    *,
    model: str | None = None,
    model_type: str | None = None,
    version_type: str | None = None,
    fallback_model_type: str | None = None,
    params: dict[str, str] | None = None,
) -> FindResult:
    """The newest matching version: latest created_at, then highest version number (`model_type`: the lineage
    type, base/continued; `params`: params that must equal, e.g. {'model_type': 'lgbm'})."""
    if version_type is not None and version_type not in VERSION_TYPES:
        raise MlregError(f"unknown version type {version_type!r}: expected one of {', '.join(VERSION_TYPES)}")

    def pick(mt: str | None) -> FindResult | None:
        found = _of_type(views, mt, version_type, params)
        return FindResult("latest", max(found, key=_newest), len(found), model_type=mt) if found else None

    what = _criteria(model, model_type, params, version_type=version_type)
    return _with_fallback(
        pick, model_type, fallback_model_type, f"no version matches {what}", model_type_hint(views, model_type)
    )


def find_best(
    views: list[VersionView],
    metric: str,
    *,
    model: str | None = None,
    model_type: str | None = None,
    higher_is_better: bool | None = None,
    fallback_model_type: str | None = None,
    params: dict[str, str] | None = None,
) -> FindResult:
    """The version with the best value of `metric`; among ties, the newest (filters as in find_latest)."""
    up = direction(metric, higher_is_better)

    def pick(mt: str | None) -> FindResult | None:
        scored = [
            (v, x) for v in _of_type(views, mt, None, params) if (x := number(v.record.metrics.get(metric))) is not None
        ]
        if not scored:
            return None
        best = (max if up else min)(x for _, x in scored)
        tied = [v for v, x in scored if x == best]
        winner = max(tied, key=_newest)
        others = [v.record.ref for v in tied if v is not winner]
        return FindResult(
            "best", winner, len(scored), model_type=mt, metric=metric, higher_is_better=up, value=best, tied_with=others
        )

    what = _criteria(model, model_type, params)
    return _with_fallback(
        pick,
        model_type,
        fallback_model_type,
        f"no version of {what} has metric {metric!r}",
        model_type_hint(views, model_type),
    )


def find_by_stage(views: list[VersionView], stage: str, params: dict[str, str]) -> list[VersionView]:
    """Every version in `stage` whose params equal all of `params`."""
    return [
        v
        for v in views
        if v.record.stage == stage and all(v.record.params.get(k) == str(want) for k, want in params.items())
    ]


# -- resolve ---------------------------------------------------------------------------------------
@dataclass
class Resolved:
    """What a ref names: the version (with derived fields) and absolute artifact locations."""

    ref: str
    view: VersionView
    artifact_paths: list[str]
    files_dir: Path | None = None  # store-backed version: the local folder its files were pulled into
    store_dir: str | None = None  # store-backed version not pulled: its folder in the store

    @property
    def path(self) -> Path:
        """The version folder in the registry (metadata.json; the files too unless they are in a store)."""
        return self.view.folder

    @property
    def stored(self) -> bool:
        """Some of the version's files are kept in the object store."""
        return any(a.stored for a in self.record.artifacts)

    @property
    def location(self) -> str:
        """Where the version's files are: the folder they were pulled into, their store folder (not pulled), or
        the version folder in git. What `mlreg resolve` prints and its --json `path`."""
        return str(self.files_dir or self.store_dir or self.view.folder)

    @property
    def record(self):
        return self.view.record

    def to_dict(self) -> dict[str, Any]:
        files = {"files_dir": str(self.files_dir)} if self.files_dir else {}
        return (
            self.view.to_dict()
            | {
                "ref": self.ref,
                "path": self.location,
                "registry_path": str(self.path),
                "artifact_paths": self.artifact_paths,
            }
            | files
        )


def split_model_uri(ref: str) -> tuple[str, str]:
    """`NAME@alias`, `NAME/3`, `models:/NAME@alias` -> (name, ref); a bare name is an error (say which)."""
    from .lifecycle import split_ref

    name, vref = split_ref(ref.strip())
    if not vref:
        raise MlregError(
            f"{ref!r}: no version given; expected NAME@ALIAS, NAME@STAGE, NAME/N, NAME@latest or models:/NAME@ALIAS"
        )
    return name, vref


def mlflow_model_location(res: Resolved) -> str | None:
    """The folder (or URI) holding the version's `MLmodel` file, if it is an MLflow-format model."""
    found = []
    for a, where in zip(res.record.artifacts, res.artifact_paths, strict=True):
        if (a.path or a.uri or "").rstrip("/").rsplit("/", 1)[-1] == "MLmodel":
            local = where[len("file://") :] if where.startswith("file://") else where
            found.append(local.rsplit("/", 1)[0])
    return min(found, key=lambda p: p.count("/")) if found else None
