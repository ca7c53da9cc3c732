"""`import dir`: bring a folder-per-version layout (each version a folder with a metadata.json) into git."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.files import NAME_RE, load_json
from ..core.records import Lineage, Run
from ..core.runmeta import artifact_for, list_files, param_text
from ..errors import MlregError

LEGACY_METADATA = "legacy_metadata.json"
_INVALID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class LegacyVersion:
    """One version folder of the old layout, read and normalised."""

    folder: Path
    model: str
    label: str  # the old version string, e.g. v1.0.1
    run: Run
    metrics: dict[str, float]
    lineage: Lineage
    notes: str
    files: list[Path]
    raw_name: str | None = None  # model_name as written, when it came from the file

    def sort_key(self) -> tuple:
        return (self.run.training_timestamp or "", _natural(self.label), self.folder.name)


def scan(root: Path, model: str | None = None) -> list[LegacyVersion]:
    """Every folder below `root` holding a metadata.json, oldest first within each model."""
    root = Path(root)
    if not root.is_dir():
        raise MlregError(f"{root}: not a folder")
    found, problems = [], []
    for path in sorted(root.rglob("metadata.json")):
        try:
            found.append(read_legacy(path.parent, root, model))
        except MlregError as e:  # report every broken folder, not just the first
            problems.append(str(e))
    if problems:
        raise MlregError("\n".join(problems))
    if not found:
        raise MlregError(f"{root}: no version folders found (expected folders holding a metadata.json)")
    return sorted(found, key=lambda v: (v.model, v.sort_key()))


def renames(legacy: list[LegacyVersion]) -> list[str]:
    """Notes for model names that had to be changed to be legal registry names."""
    seen: dict[tuple[str, str], Path] = {}
    for v in legacy:
        if v.raw_name is not None and v.raw_name != v.model:
            seen.setdefault((v.raw_name, v.model), v.folder)
    return [
        f"model_name {raw!r} (in {folder.name}) imported as {name!r}: registry names allow only "
        "letters, digits, '.', '_' and '-'"
        for (raw, name), folder in seen.items()
    ]


def read_legacy(folder: Path, root: Path, model: str | None) -> LegacyVersion:
    """Normalise one legacy metadata.json (model_name, model_version, key_performance_metrics, ...)."""
    path = folder / "metadata.json"
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise MlregError(f"{path}: $: expected a JSON object")
    name = model or _model_name(doc, folder, path)
    metrics = doc.get("key_performance_metrics") or doc.get("metrics") or {}
    bad = [k for k, v in metrics.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise MlregError(f"{path}: $.key_performance_metrics.{bad[0]}: expected a number, got {metrics[bad[0]]!r}")
    label = str(doc.get("model_version") or folder.name)
    run = Run(
        name=folder.name,
        mlflow_run_id=doc.get("mlflow_run_id"),
        training_timestamp=_text(doc.get("training_timestamp")),
        experiment=doc.get("experiment"),
    )
    lineage = Lineage(
        source_data_version=_text(doc.get("source_data_version")),
        hyperparameters_config_path=_text(doc.get("hyperparameters_config_path")),
    )
    files = [p for p in list_files(folder) if p != path]
    raw = None if model else str(doc.get("model_name") or folder.parent.name)
    return LegacyVersion(
        folder,
        name,
        label,
        run,
        {k: float(v) for k, v in metrics.items()},
        lineage,
        _text(doc.get("notes")) or "",
        files,
        raw,
    )


def _model_name(doc: dict[str, Any], folder: Path, path: Path) -> str:
    raw = doc.get("model_name") or folder.parent.name
    name = _INVALID.sub("-", str(raw)).strip("-.")
    if not NAME_RE.match(name):
        raise MlregError(f"{path}: $.model_name: cannot make a model name from {raw!r}; pass --model NAME")
    return name


def _text(value: Any) -> str | None:
    return None if value is None else param_text(value)


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def not_yet_imported(legacy: list[LegacyVersion], known: set[tuple[str, str]]) -> list[LegacyVersion]:
    """Drop versions whose legacy metadata.json is already recorded in that model (re-running an import)."""
    from ..core.runmeta import digest

    return [v for v in legacy if (v.model, digest(v.folder / "metadata.json")) not in known]


def version_parts(v: LegacyVersion, root: Path) -> tuple[dict[str, str], list, dict[str, Path]]:
    """Params, artifacts and files-to-copy (relative path -> source) of one legacy version."""
    params = {"legacy_version": v.label, "imported_from": v.folder.relative_to(root).as_posix() or "."}
    artifacts, copies = [], {}
    for f in v.files:
        art = artifact_for(f, v.folder, external=False)
        assert art.path is not None  # not external: a path inside the version folder
        artifacts.append(art)
        copies[art.path] = f
    legacy = v.folder / "metadata.json"
    art = artifact_for(legacy, v.folder, external=False)
    art.path = LEGACY_METADATA
    artifacts.append(art)
    copies[LEGACY_METADATA] = legacy
    return params, artifacts, copies
