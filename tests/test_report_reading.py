"""The report read as a person reads it (headless Chromium on the example registry's report): column headers
wrap between the words of a name, never inside one, and every metric chart names its versions on the x axis."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlreg.api import Registry

from browser import chromium

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("btcusdt-1h-inference-7d-logret", "rl-agent-1h")

# For each header: every text node (the words between <wbr> break points) must lie on one line; a name broken
# mid-word ("rmse_trai" / "n") is a text node with two line boxes.
SPLIT_WORDS = """(sel) => {
  const broken = [];
  for (const th of document.querySelectorAll(sel)) {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (lines.size > 1) broken.push(th.textContent + ' at "' + node.textContent + '"');
    }
  }
  return broken;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return Registry(ROOT).report(tmp_path_factory.mktemp("report") / "site").out


@pytest.mark.parametrize("width", [1280, 900, 640])
def test_headers_wrap_between_words_only(site, width):
    with chromium(width=width) as s:
        for model in MODELS:
            s.page.goto((site / "models" / model / "index.html").as_uri())
            assert s.page.evaluate(SPLIT_WORDS, "table.versions th") == []
            s.page.goto((site / "models" / model / "v2.html").as_uri())
            assert s.page.evaluate(SPLIT_WORDS, "table.kv th") == []
        s.page.goto((site / "models" / "rl-agent-1h" / "index.html").as_uri())
        s.screenshot(f"report-headers-{width}")
        # the long names did wrap (between words): more than one line box, each word whole
        th = s.page.locator("table.versions th", has_text="improvement_evaluation/best_mean_reward")
        assert th.bounding_box()["height"] > 30


def test_every_metric_chart_labels_its_versions(site):
    with chromium() as s:
        s.page.goto((site / "models" / "rl-agent-1h" / "index.html").as_uri())
        panels = s.page.locator("svg.plot g[id^='axes_']")
        assert panels.count() == 4  # three metric families and the improvement bars
        for i in range(panels.count()):
            ticks = panels.nth(i).locator("g[id^='xtick_'] text")
            labels = [t.text_content().strip() for t in ticks.all()]
            assert labels == ["v1", "v2"], f"panel {i}: {labels}"
            assert all(t.is_visible() for t in ticks.all())
        s.screenshot("report-charts")
