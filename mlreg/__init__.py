"""mlreg: a Git-native model registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import Registry
    from .api import load_model

__all__ = ["Registry", "__version__", "load_model"]


def __getattr__(name: str) -> Any:
    # lazy, so `import mlreg` (and `mlreg --help`) stay cheap
    if name == "Registry":
        from .api import Registry

        return Registry
    if name == "load_model":
        from .api import load_model

        return load_model
    raise AttributeError(name)
