"""The synced example as people see it: MLflow's UI in headless Chromium (screenshots kept in test-artifacts/)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mlreg.api import Registry

from ..sync_helpers import git, versions_of
from browser import chromium  # tests/browser.py (tests/ is on sys.path)

pytestmark = pytest.mark.team

PROJECT = Path(__file__).resolve().parents[3]
MODEL = "btcusdt-1h-inference-7d-logret"  # the example registry: v1 archived, v2 champion


@pytest.fixture
def example(tmp_path) -> Registry:
    """A copy of the example registry (mlreg.yaml + registry/) in a git repository of its own."""
    root = tmp_path / "example"
    root.mkdir()
    shutil.copy(PROJECT / "mlreg.yaml", root / "mlreg.yaml")
    shutil.copytree(PROJECT / "registry", root / "registry")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "example registry")
    return Registry(root)


def test_mlflow_ui_shows_the_synced_example(example, healthy_stack):
    assert example.sync(healthy_stack.url).ok
    c = healthy_stack.client()
    versions = versions_of(c, MODEL)
    v2 = versions[2]
    run = c.get_run(v2.run_id)
    url = healthy_stack.url

    with chromium(1600, 1000) as browser:
        page = browser.page
        page.goto(f"{url}/#/models/{MODEL}", wait_until="domcontentloaded")
        page.get_by_text("Version 2").first.wait_for(timeout=60_000)
        page.get_by_text("Version 1").first.wait_for(timeout=60_000)
        browser.screenshot("mlflow-model-page")
        v1, v2 = (_cells(page.get_by_role("row").filter(has_text=f"Version {n}").first) for n in (1, 2))
        assert any(c.lstrip().startswith("@") and "champion" in c for c in v2), v2  # the alias chip "@ champion"
        assert not any(c.lstrip().startswith("@") and "champion" in c for c in v1), v1

        page.goto(f"{url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}", wait_until="domcontentloaded")
        page.get_by_text(run.info.run_name).first.wait_for(timeout=60_000)
        page.get_by_text("Duration").first.wait_for(timeout=60_000)
        browser.screenshot("mlflow-run-page")
        body = page.inner_text("body")
        assert run.info.run_name in body
        for key, value in run.data.params.items():
            assert f"{key}\n{value}" in body, key
        duration = re.search(r"Duration\n([^\n]+)", body).group(1).strip()
        assert duration and not re.fullmatch(r"0(\.0+)?\s*(ms|s)?", duration), duration
    assert run.info.end_time > run.info.start_time


def _cells(row) -> list[str]:
    """The text of each cell of a table row (MLflow's tables are div grids with role=row)."""
    return row.evaluate("e => Array.from(e.children).map(c => c.innerText)")
