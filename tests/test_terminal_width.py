"""list, list --versions, show and search on an 80- and a 200-column terminal: one line per row, no folding."""

from __future__ import annotations

import re

import pytest

from mlreg.api import Registry
from mlreg.render import Col, Fitted

from helpers import world

LONG = "a-model-with-a-rather-long-name-for-the-terminal"
DESCRIPTION = "Trained on 2023-2025 data with the default features, funding rates and a long explanation of why"


@world
def wide_reg(reg: Registry, training) -> Registry:
    metrics = {"rmse_train": 0.0548, "rmse_val": 0.0669, "rmse_test": 0.0448, "auc_val": 0.61, "corr_val": 0.12}
    for _ in range(3):
        reg.register(LONG, training(metrics), description=DESCRIPTION)
    reg.promote(LONG, "2", "beta", reason="A reason long enough that an 80-column terminal has to cut it short")
    reg.register("short", training({"rmse_val": 0.07}), description="tiny")
    reg.describe(LONG, DESCRIPTION)
    reg.alias_set(LONG, "Staging", "3")
    return reg


def body_rows(out: str) -> list[str]:
    """The table rows (lines between the header rule and the bottom rule that start with a border)."""
    return [line for line in out.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize(
    "args, rows",
    [
        (["list"], 2),
        (["list", "--versions"], 4),
        (["show", LONG], 3),
        (["search", "metrics.rmse_val > 0", "--order-by", "metrics.rmse_val DESC"], 4),
    ],
)
def test_tables_fit_without_folding(wide_reg, cli, monkeypatch, width, args, rows):
    monkeypatch.setenv("COLUMNS", str(width))
    r = cli(wide_reg.root, *args)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert max(len(line) for line in lines) <= width
    table = body_rows(r.out)
    assert len(table) == rows  # one line per model or version: nothing folded onto a second line
    assert LONG in r.out  # the name whole
    assert all(re.search(r"│ v\d +│", row) or args == ["list"] for row in table)
    if width == 80:
        assert DESCRIPTION not in r.out  # cut short with an ellipsis, or its column left out
    else:  # every column is there; the model list has room for the whole description
        assert "┃ description" in r.out and (DESCRIPTION in r.out or args != ["list"])


def test_show_version_at_80_columns(wide_reg, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = cli(wide_reg.root, "show", f"{LONG}@2")
    assert r.code == 0 and max(len(line) for line in r.out.splitlines()) <= 80
    history = r.out[r.out.index("stage history") :]
    assert len(body_rows(history)) == 2 and "development -> beta" in history and "A reason long" in history
    assert "0.0669" in r.out and "rmse_val" in r.out  # numbers whole


def test_columns_leave_in_order_of_importance():
    cols = [Col("name", keep=0), Col("a", keep=2), Col("b", keep=1), Col("text", keep=3, flex=True, min=10)]
    rows = [["x" * 30, "aaaaaaaaaa", "bbbbbbbbbb", "t" * 50]]
    headers = lambda w: [c.header for c in Fitted(None, cols, rows).table(w).columns]  # noqa: E731
    assert headers(200) == ["name", "a", "b", "text"]
    assert headers(80) == ["name", "a", "b", "text"]  # text cut to fit
    assert headers(62) == ["name", "a", "b"]  # the flexible column would be under its minimum width
    assert headers(50) == ["name", "b"]
    assert headers(10) == ["name"]  # the must-keep column is cut when nothing else is left
