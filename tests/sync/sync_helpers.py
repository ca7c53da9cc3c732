"""Small helpers shared by the sync tests (a plain module: two conftest.py files share one module name)."""

from __future__ import annotations

import json

from helpers import free_port, git  # noqa: F401  (tests/helpers.py's, re-exported for the sync tests)


def runs_of(client, name: str) -> list:
    """Every run (deleted too) mlreg made for model `name` (its `mlreg.sync` tag names the model)."""
    from mlflow.entities import ViewType

    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    found = client.search_runs(exps, f"""tags.`mlreg.sync` LIKE '%"model":"{name}",%'""", ViewType.ALL)
    return [r for r in found if mark_of(r.data.tags)["model"] == name]


def mark_of(tags: dict[str, str]) -> dict:
    """The `mlreg.sync` bookkeeping tag of a model, version or run, parsed."""
    return json.loads(tags["mlreg.sync"])


def bookkeeping(tags: dict[str, str]) -> list[str]:
    """The keys of mlreg's own tags on an object."""
    return sorted(k for k in tags if k.startswith("mlreg."))


def versions_of(client, name: str) -> dict:
    """Model versions of `name` by number."""
    return {int(v.version): v for v in client.search_model_versions(f"name = '{name}'")}


def aliases_of(client, name: str) -> dict[str, int]:
    """Aliases of registered model `name`: alias -> version number."""
    return {a: int(v) for a, v in client.get_registered_model(name).aliases.items()}
