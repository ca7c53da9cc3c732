"""mlreg: a Git-native model registry.

`Registry` is the library (every operation the CLI offers, as a method); `fetch` reads one version from a remote
registry with no checkout; `load_model` loads a version. Every foreseeable failure is a `MlregError` (kinds:
`NotFound`, `UsageError`, `GitError`); the methods return the dataclasses listed in `__all__`.
Every name is imported on first use, so `import mlreg` (and `mlreg --help`) stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import Registry, fetch, load_model
    from .core.changes import ChangeSet
    from .core.query import FindResult, Resolved
    from .core.views import ArtifactCheck, ModelSummary, ModelView, Outcome, VersionView
    from .errors import GitError, MlregError, NotFound, UsageError
    from .importers.from_mlflow import ImportReport
    from .objects.garbage import GcReport
    from .objects.pulling import PullReport
    from .ops.history import Event
    from .report import Built
    from .sync import SyncReport

# public name -> the module (under mlreg) that defines it
_LAZY = {
    "Registry": "api",
    "fetch": "api",
    "load_model": "api",
    "MlregError": "errors",
    "NotFound": "errors",
    "UsageError": "errors",
    "GitError": "errors",
    "Outcome": "core.views",
    "VersionView": "core.views",
    "ModelView": "core.views",
    "ModelSummary": "core.views",
    "ArtifactCheck": "core.views",
    "FindResult": "core.query",
    "Resolved": "core.query",
    "Event": "ops.history",
    "ChangeSet": "core.changes",
    "PullReport": "objects.pulling",
    "GcReport": "objects.garbage",
    "Built": "report",
    "SyncReport": "sync",
    "ImportReport": "importers.from_mlflow",
}

# written out for static tools; every name but __version__ is in _LAZY (tests/test_api_public.py checks)
__all__ = [
    "ArtifactCheck",
    "Built",
    "ChangeSet",
    "Event",
    "FindResult",
    "GcReport",
    "GitError",
    "ImportReport",
    "MlregError",
    "ModelSummary",
    "ModelView",
    "NotFound",
    "Outcome",
    "PullReport",
    "Registry",
    "Resolved",
    "SyncReport",
    "UsageError",
    "VersionView",
    "__version__",
    "fetch",
    "load_model",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlreg' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
