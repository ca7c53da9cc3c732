"""Turn a training output folder (run_metadata.json + files) into the parts of a version record."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MlregError
from .records import KEY_RE, Artifact, Lineage, Run

RUN_METADATA = "run_metadata.json"
SEED_PARAMS = (
    "model_type",
    "target",
    "objective",
    "primary_metric",
    "dataset_slug",
    "feature_list_id",
    "prepared_data_dir",
    "timeframe",
)
NOT_PARAMS = {
    "schema_version",
    "run_name",
    "experiment",
    "training_timestamp",
    "mlflow_run_id",
    "description",
    "source_data_version",
    "hyperparameters_config_path",
    "total_timesteps",
    "previous_timesteps",
    "params",
    "metrics",
    "tags",
    "dataset",
    "notes",
}


@dataclass
class TrainingOutput:
    """What register takes from a training folder."""

    run: Run = field(default_factory=Run)
    description: str = ""
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lineage: Lineage = field(default_factory=Lineage)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was read but not kept (non-finite metrics), one line each


def slugify_dataset(raw: str) -> str:
    """`BINANCE_BTCUSDT.P, 60` -> `BINANCE_BTCUSDT.P_60`: each run of spaces and commas becomes one `_`."""
    return re.sub(r"[ ,]+", "_", raw.strip())


def param_text(value: Any) -> str:
    """Params are strings: JSON-ish rendering for numbers and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def read_training_dir(folder: Path, follow_symlinks: bool = False) -> TrainingOutput:
    """Read `folder/run_metadata.json` (if present) and list the folder's files (mlreg.core.scan: what is refused)."""
    from . import schemas

    if not str(folder).strip() or not folder.is_dir():
        raise MlregError(f"{folder}: --from-dir is not a folder")
    out = TrainingOutput(files=list_files(folder, follow_symlinks))
    path = folder / RUN_METADATA
    if not path.exists():
        out.params["output_dir"] = str(folder.resolve())
        return out
    doc = _load(path.resolve() if path.is_symlink() else path, str(path))  # a link: --follow-symlinks
    found = schemas.problems("run_metadata", doc, str(path))
    if found:
        raise MlregError("\n".join(found))
    _fill(out, doc)
    out.params["output_dir"] = str(folder.resolve())
    return out


def _fill(out: TrainingOutput, doc: dict[str, Any]) -> None:
    out.run = Run(
        experiment=doc.get("experiment"),
        name=doc.get("run_name"),
        mlflow_run_id=doc.get("mlflow_run_id"),
        training_timestamp=doc.get("training_timestamp"),
    )
    out.description = doc.get("description", "")
    for k, v in (doc.get("params") or {}).items():
        if v is not None:
            out.params[k] = param_text(v)
    for k, v in doc.items():
        if k not in NOT_PARAMS and v is not None and not isinstance(v, (dict, list)):
            out.params[check_key(k, "param")] = param_text(v)
    if "dataset" in doc and "dataset_slug" not in doc:
        out.params["dataset_slug"] = slugify_dataset(doc["dataset"])
    elif "dataset_slug" in doc:
        out.params["dataset_slug"] = slugify_dataset(doc["dataset_slug"])
    metrics = {k: float(v) for k, v in (doc.get("metrics") or {}).items()}
    out.metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
    dropped = sorted(set(metrics) - set(out.metrics))
    if dropped:  # what Python's json.dump writes for a diverged run; MLflow's own import drops them too
        out.notes.append(
            f"{RUN_METADATA}: metric(s) not registered (not finite: NaN or Infinity): {', '.join(dropped)}"
        )
    out.tags = dict(doc.get("tags") or {})
    out.lineage = Lineage(
        source_data_version=doc.get("source_data_version"),
        hyperparameters_config_path=doc.get("hyperparameters_config_path"),
        total_timesteps=doc.get("total_timesteps"),
        previous_timesteps=doc.get("previous_timesteps"),
    )


class _Written(float):
    """A NaN or infinite number, with the text the file wrote it as."""

    text = ""


def _loose(text: str) -> float:
    value = float(text)
    if math.isfinite(value):
        return value
    out = _Written(value)
    out.text = text
    return out


def _load(path: Path, where: str) -> Any:
    """run_metadata.json as training scripts write it: NaN and Infinity (what Python's json.dump writes for a
    diverged run) are read in `metrics` (register leaves them out); anywhere else they are an error."""
    from .files import parse_json, read_plain

    data = read_plain(path, where)
    try:
        doc = json.loads(data, parse_constant=_loose, parse_float=_loose)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return parse_json(data, where)  # raises the one-line error naming the file and the position
    stack = [(f"$.{k}", v) for k, v in doc.items() if k != "metrics"] if isinstance(doc, dict) else [("$", doc)]
    stack.reverse()
    while stack:  # iterative (deep nesting is no RecursionError), in document order (the first one is named)
        at, value = stack.pop()
        if isinstance(value, _Written):
            raise MlregError(
                f"{where}: {at}: {value.text} is not a finite number; expected a finite number "
                "(only metrics may be NaN or Infinity: register leaves those out)"
            )
        if isinstance(value, dict):
            stack += reversed([(f"{at}.{k}", v) for k, v in value.items()])
        elif isinstance(value, list):
            stack += reversed([(f"{at}[{i}]", v) for i, v in enumerate(value)])
    return doc


def list_files(folder: Path, follow_symlinks: bool = False) -> list[Path]:
    """Every regular file below `folder` (never inside a `.git` folder), sorted by relative path."""
    from .scan import training_files

    return training_files(folder, follow_symlinks)


def digest(path: Path) -> str:
    """sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def artifact_for(path: Path, folder: Path, external: bool) -> Artifact:
    """Record one file: relative path when copied into the registry, absolute path when external."""
    size, sha = path.stat().st_size, digest(path)
    if external:
        return Artifact(sha256=sha, size=size, uri=str(path.resolve()))
    return Artifact(sha256=sha, size=size, path=path.relative_to(folder).as_posix())


def main_model_file(files: list[Path]) -> Path | None:
    """The file that is `the model` for external_model_path: a `model*` file, else the largest one."""
    candidates = [p for p in files if p.name != RUN_METADATA]
    named = [p for p in candidates if p.name.lower().startswith("model")]
    pool = named or candidates
    return max(pool, key=lambda p: p.stat().st_size) if pool else None


def check_key(key: str, what: str) -> str:
    """Param, metric and tag keys: what MLflow accepts (and never `mlreg.*`, which mlreg owns)."""
    if not isinstance(key, str) or not KEY_RE.match(key) or key.startswith("mlreg."):
        raise MlregError(
            f"invalid {what} key {key!r}: expected 1-250 letters, digits, '_', '-', '.', ' ' or '/', "
            "not starting with 'mlreg.'"
        )
    return key


def parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    """`k=v` flags into a dict; a pair without `=` or with an invalid key is an error."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise MlregError(f"--{what} {pair!r}: expected KEY=VALUE")
        out[check_key(key.strip(), what)] = value
    return out


def parse_metrics(pairs: list[str]) -> dict[str, float]:
    """`--metric k=0.5` flags; values must be finite numbers."""
    out = {}
    for key, value in parse_pairs(pairs, "metric").items():
        try:
            number = float(value)
        except ValueError:
            raise MlregError(f"--metric {key}={value}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise MlregError(f"--metric {key}={value}: expected a finite number")
        out[key] = number
    return out
