"""Small helpers shared by the sync tests (a plain module: two conftest.py files share one module name)."""

from __future__ import annotations

import json
import re

from helpers import free_port, git  # noqa: F401  (tests/helpers.py's, re-exported for the sync tests)


def runs_of(client, name: str) -> list:
    """Every run (deleted too) mlreg made for model `name` (its `mlreg.sync` tag names the model)."""
    from mlflow.entities import ViewType

    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    found = client.search_runs(exps, f"""tags.`mlreg.sync` LIKE '%"model":"{name}",%'""", ViewType.ALL)
    return [r for r in found if mark_of(r.data.tags)["model"] == name]


def mark_of(tags: dict[str, str]) -> dict:
    """The `mlreg.sync` bookkeeping tag of a registered model or a run, parsed."""
    return json.loads(tags["mlreg.sync"])


def version_mark(tags: dict[str, str]) -> tuple[str, list[str]]:
    """A model version's short `mlreg.sync` tag: (12 hex digits of its record's digest, the keys it lists)."""
    digest, _, keys = tags["mlreg.sync"].partition(" ")
    assert re.fullmatch(r"[0-9a-f]{12}", digest), tags["mlreg.sync"]
    return digest, keys.split(",") if keys else []


def answers(reg, uri: str | None, monkeypatch, **kw) -> dict:
    """`sync --check`'s report read through the light path (MLflow's client never asked: see mlreg/sync/light.py)
    and through MLflow's client; asserts they are equal and returns it."""
    import mlreg.sync
    from mlreg.sync.light import ENV

    def no_client(*a, **k):
        raise AssertionError("the light path fell back to MLflow's client")

    with monkeypatch.context() as m:
        m.setattr(mlreg.sync, "_connected", no_client)
        fast = reg.sync(uri, check=True, **kw).to_dict()
    with monkeypatch.context() as m:
        m.setenv(ENV, "0")
        slow = reg.sync(uri, check=True, **kw).to_dict()
    assert fast == slow
    return fast


def bookkeeping(tags: dict[str, str]) -> list[str]:
    """The keys of mlreg's own tags on an object."""
    return sorted(k for k in tags if k.startswith("mlreg."))


def versions_of(client, name: str) -> dict:
    """Model versions of `name` by number."""
    return {int(v.version): v for v in client.search_model_versions(f"name = '{name}'")}


def aliases_of(client, name: str) -> dict[str, int]:
    """Aliases of registered model `name`: alias -> version number."""
    return {a: int(v) for a, v in client.get_registered_model(name).aliases.items()}


def wanted_versions(reg, name: str) -> dict:
    """What sync computes from git for the versions of model `name` (mlreg.sync.desired.WantVersion by number)."""
    from mlreg.sync import desired_state, scope

    models, groups = scope(reg, name)
    (want,), _ = desired_state(reg.root, reg.files, reg.settings, models, groups, name)
    return want.versions
