"""Optional parts of mlreg: the core reads, validates, diffs, registers and promotes; extras add the rest.

`pip install mlreg` is the core (no MLflow); `pip install 'mlreg[mlflow]'` adds sync, ui, `import mlflow`
and loading MLflow models. A command that needs a missing extra fails with one line naming it.
"""

from __future__ import annotations

import importlib.util

from .errors import MlregError

# extra -> (what to call it, the top-level modules it brings: checked without importing them)
EXTRAS = {"mlflow": ("MLflow", ("mlflow",))}


def missing(extra: str) -> list[str]:
    """The modules of `extra` that are not installed (found without importing anything)."""
    return [m for m in EXTRAS[extra][1] if importlib.util.find_spec(m) is None]


def require(extra: str, what: str) -> None:
    """Fail with one line (`what` needs ..., install the extra) unless `extra`'s modules are installed."""
    if missing(extra):
        raise MlregError(f"{what} needs {EXTRAS[extra][0]}, which is not installed: pip install 'mlreg[{extra}]'")
