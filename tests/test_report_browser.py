"""The report of this repository's example registry, opened from file:// in headless Chromium.

Asserts on what a person sees; screenshots land in test-artifacts/ (MLREG_TEST_ARTIFACTS).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlreg.api import Registry

from browser import chromium

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
BTC = "btcusdt-1h-inference-7d-logret"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example registry's report, built from HEAD of this repository."""
    return Registry(ROOT).report(tmp_path_factory.mktemp("report") / "site").out


def test_index_model_page_lineage_and_filter_offline(site):
    with chromium() as s:
        page = s.page
        page.goto((site / "index.html").as_uri())
        champion = page.locator(f'tr[data-model="{BTC}"] [data-holder="champion"]')
        assert champion.inner_text() == "champion: v2" and champion.is_visible()
        s.screenshot("report-index")

        rows = page.locator("#models tbody tr")
        assert rows.count() == 2
        page.fill("#filter", "ppo agent")  # every word must match: only the RL model's description has both
        visible = [r.get_attribute("data-model") for r in rows.all() if r.is_visible()]
        assert visible == ["rl-agent-1h"]
        assert page.inner_text("#filter-count") == "1 of 2"
        page.fill("#filter", "no-such-model")
        assert not any(r.is_visible() for r in rows.all()) and page.is_visible("#filter-empty")
        page.fill("#filter", "")
        assert all(r.is_visible() for r in rows.all())

        page.click(f'tr[data-model="{BTC}"] td.name a')  # navigate as a person would
        assert page.url.endswith(f"/models/{BTC}/index.html")
        plot = page.locator("figure#metric-plot svg.plot")
        assert plot.is_visible() and plot.bounding_box()["width"] > 300
        for metric in ("rmse_train", "rmse_val", "rmse_test"):  # one point per version, each series
            assert page.locator(f"svg.plot g#metric-{metric} use").count() == 2
        assert page.locator("svg.plot g#marked-rmse use").count() == 3  # the champion marked on each series
        assert page.locator("table.versions tbody tr").count() == 2
        s.screenshot("report-model")

        page.goto((site / "models" / "rl-agent-1h" / "index.html").as_uri())
        edge = page.locator('.lineage [data-edge="rl-agent-1h/1->rl-agent-1h/2"]')
        assert edge.is_visible()
        parent = page.locator('.lineage [data-node="rl-agent-1h/1"]').bounding_box()
        child = edge.locator('[data-node="rl-agent-1h/2"]').bounding_box()
        assert child["x"] > parent["x"] + parent["width"]  # drawn left to right: v1 -> v2
        assert "continued →" in edge.inner_text()
        s.screenshot("report-lineage")

        page.click('[data-node="rl-agent-1h/2"]')
        assert page.url.endswith("/models/rl-agent-1h/v2.html")
        assert page.locator("code.line", has_text="mlreg resolve models:/rl-agent-1h/2").is_visible()

    assert s.requests and all(url.startswith("file://") for url in s.requests), s.requests
    assert [url for url in s.requests if not url.startswith("file://")] == []
