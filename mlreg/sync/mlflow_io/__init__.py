"""The MLflow adapter: the only package that imports mlflow, always inside functions (so importing it is light).

`session` (bounded retries, quiet logs, one-line errors), `reads` and `writes` (sync's bulk reads and a plan's
writes), `source` (what `mlreg import mlflow` reads), `diagnose` (which part of a failing MLflow failed).
"""

from __future__ import annotations

from typing import Any

from .reads import Reader
from .session import ENV_DEFAULTS, session, to_error
from .source import SourceModel, SourceRun, SourceVersion, download_version, read_models, read_versions
from .writes import MlflowIO

__all__ = [
    "ENV_DEFAULTS",
    "MlflowIO",
    "Reader",
    "SourceModel",
    "SourceRun",
    "SourceVersion",
    "download_version",
    "load_pyfunc",
    "read_models",
    "read_versions",
    "session",
    "to_error",
]


def load_pyfunc(location: str) -> Any:
    """An MLflow model (a folder holding an MLmodel file, or any URI MLflow reads) loaded as a pyfunc."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(location)
