"""`mlreg report`: a self-contained static site of the registry at a git ref (see site.build).

This package imports nothing heavy at import time: Matplotlib and Jinja2 (the `report` extra) load
only when a site is built.
"""

from __future__ import annotations

from .site import Built, build

__all__ = ["Built", "build"]
