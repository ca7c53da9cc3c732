"""find latest / best / stage and the fallback model type, through the API and the CLI."""

import datetime as dt

import pytest

from mlreg.api import Registry
from mlreg.core.query import metric_direction
from mlreg.errors import MlregError, NotFound

from helpers import world


@world
def zoo(reg, training):
    """btc: v1 (0.07), v2 (0.05), v3 continued from v2 (0.05, ties v2); eth v1 (4H, auc); ppo: base + continued."""
    reg.register("btc", training(metrics={"rmse_val": 0.07}, timeframe="1H"))
    reg.register("btc", training(metrics={"rmse_val": 0.05, "auc_val": 0.61}, timeframe="1H"))
    reg.register(
        "btc", training(metrics={"rmse_val": 0.05}, timeframe="1H"), base="btc@2", enhancement_type="continued"
    )
    reg.register("eth", training(metrics={"rmse_val": 0.06, "auc_val": 0.7}, timeframe="4H"))
    reg.register("ppo", training(metrics={"evaluation/best_mean_reward": 10.0}, model_type="ppo"))
    reg.register(
        "ppo",
        training(metrics={"evaluation/best_mean_reward": 12.5}, model_type="ppo"),
        base="ppo@1",
        enhancement_type="continued",
    )
    reg.promote("btc", "1", "beta", "passed backtest")
    reg.promote("eth", "1", "beta", "passed backtest")
    return reg


def refs(views):
    return [(v.record.name, v.record.version) for v in views]


# -- find latest ---------------------------------------------------------------------------------
def test_find_latest_across_models_and_in_one_model(zoo):
    assert zoo.find_latest().record.ref == "ppo/2"
    assert zoo.find_latest(model="btc").record.ref == "btc/3"
    assert zoo.find_latest(model="eth").candidates == 1


def test_find_latest_by_model_type_and_version_type(zoo):
    assert zoo.find_latest(model_type="base").record.ref == "ppo/1"
    assert zoo.find_latest(model="btc", model_type="base").record.ref == "btc/2"
    assert zoo.find_latest(model="btc", version_type="old").record.ref == "btc/2"  # v3 names v2 as its base
    assert zoo.find_latest(model="btc", model_type="base", version_type="latest").record.ref == "btc/1"
    found = zoo.find_latest(model_type="continued", version_type="latest")
    assert found.record.ref == "ppo/2" and found.view.version_type == "latest" and not found.fallback


def test_find_latest_nothing_matches_is_a_clear_error(zoo):
    with pytest.raises(NotFound, match="no version matches model 'eth', lineage.model_type 'curriculum'"):
        zoo.find_latest(model="eth", model_type="curriculum")
    with pytest.raises(MlregError, match="unknown version type 'newest'"):
        zoo.find_latest(version_type="newest")
    with pytest.raises(NotFound, match="model 'nope' not found"):
        zoo.find_latest(model="nope")


def test_find_latest_ties_on_created_at_go_to_the_higher_version(repo_dir, training):
    fixed = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    reg = Registry(repo_dir, clock=lambda: fixed)
    reg.init()
    for name in ("b", "a", "a"):
        reg.register(name, training())
    found = reg.find_latest()
    assert {v.record.created_at for v in reg.versions()} == {"2025-01-01T00:00:00Z"}
    assert found.record.ref == "a/2"  # same second: higher version number, then model name
    assert reg.find_latest(model="b").record.ref == "b/1"


# -- find best -----------------------------------------------------------------------------------
def test_find_best_lower_is_better_inferred_and_ties_go_to_newest(zoo):
    found = zoo.find_best("rmse_val", model="btc")
    assert (found.record.ref, found.value, found.higher_is_better) == ("btc/3", 0.05, False)
    assert found.tied_with == ["btc/2"] and found.candidates == 3
    assert zoo.find_best("rmse_val").record.ref == "btc/3"
    assert zoo.find_best("rmse_val", model_type="base").record.ref == "btc/2"


def test_find_best_higher_is_better_and_explicit_direction(zoo):
    assert zoo.find_best("auc_val").record.ref == "eth/1"
    assert zoo.find_best("rmse_val", higher_is_better=True).record.ref == "btc/1"
    assert zoo.find_best("auc_val", higher_is_better=False).record.ref == "btc/2"
    reward = zoo.find_best("evaluation/best_mean_reward")
    assert (reward.record.ref, reward.value, reward.candidates) == ("ppo/2", 12.5, 2)


def test_find_best_unknown_metric_direction_is_an_error_not_a_guess(zoo):
    with pytest.raises(MlregError, match="cannot tell whether a higher or a lower 'score' is better"):
        zoo.find_best("score")
    with pytest.raises(NotFound, match="no version of any model has metric 'score'"):
        zoo.find_best("score", higher_is_better=True)


@pytest.mark.parametrize(
    "metric, expected",
    [
        ("rmse_val", False),
        ("mae", False),
        ("mse_test", False),
        ("val_loss", False),
        ("logloss_test", False),
        ("auc_val", True),
        ("accuracy", True),
        ("f1_macro", True),
        ("corr_test", True),
        ("sharpe", True),
        ("evaluation/best_mean_reward", True),
        ("win_rate", True),
        ("total_return", True),
        ("improvement_rmse_val", False),
        ("neg_rmse", True),
        ("score", None),
        ("loss_vs_reward", None),
        ("winrate_x", None),
    ],
)
def test_metric_direction_from_name(metric, expected):
    assert metric_direction(metric) is expected


# -- fallback ------------------------------------------------------------------------------------
def test_fallback_model_type_when_nothing_of_the_asked_type_matches(zoo):
    found = zoo.find_latest(model="eth", model_type="continued", fallback_model_type="base")
    assert found.fallback and found.record.ref == "eth/1"
    assert (found.requested_model_type, found.model_type) == ("continued", "base")
    best = zoo.find_best("rmse_val", model="eth", model_type="curriculum", fallback_model_type="base")
    assert best.fallback and best.to_dict()["fallback"] is True and best.record.ref == "eth/1"


def test_fallback_not_used_when_the_asked_type_matches(zoo):
    found = zoo.find_best("rmse_val", model="btc", model_type="continued", fallback_model_type="base")
    assert not found.fallback and found.record.ref == "btc/3" and found.model_type == "continued"


def test_fallback_that_also_finds_nothing_says_both(zoo):
    with pytest.raises(NotFound, match="nor with the fallback lineage.model_type 'adaptive'"):
        zoo.find_latest(model="eth", model_type="curriculum", fallback_model_type="adaptive")


# -- find stage ----------------------------------------------------------------------------------
def test_find_by_stage_with_param_filter(zoo):
    assert refs(zoo.find_by_stage("beta")) == [("btc", 1), ("eth", 1)]
    assert refs(zoo.find_by_stage("beta", {"timeframe": "4H"})) == [("eth", 1)]
    assert refs(zoo.find_by_stage("beta", {"timeframe": "4H", "objective": "huber"})) == [("eth", 1)]
    assert refs(zoo.find_by_stage("development", model="ppo")) == [("ppo", 1), ("ppo", 2)]


def test_find_by_stage_empty_and_unknown_stage(zoo):
    assert zoo.find_by_stage("champion") == []
    assert zoo.find_by_stage("beta", {"timeframe": "1D"}) == []
    with pytest.raises(MlregError, match="unknown stage 'prod': expected one of development, beta"):
        zoo.find_by_stage("prod")


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_find_latest_and_best_json(zoo, cli):
    doc = cli(zoo.root, "find", "latest", "--model", "btc", "--model-type", "base", "--json").json()
    assert doc["query"] == "latest" and doc["fallback"] is False
    assert (doc["version"]["name"], doc["version"]["version"]) == ("btc", 2)
    assert doc["version"]["path"] == str(zoo.root / "registry/btc/v2")
    best = cli(zoo.root, "find", "best", "--metric", "evaluation/best_mean_reward", "--json").json()
    assert (best["version"]["name"], best["version"]["version"], best["value"]) == ("ppo", 2, 12.5)
    assert best["higher_is_better"] is True
    low = cli(zoo.root, "find", "best", "--metric", "auc_val", "--lower-is-better", "--json").json()
    assert low["version"]["name"] == "btc" and low["higher_is_better"] is False


def test_cli_find_fallback_says_so(zoo, cli):
    r = cli(
        zoo.root,
        "find",
        "best",
        "--metric",
        "rmse_val",
        "-m",
        "eth",
        "--model-type",
        "continued",
        "--fallback-model-type",
        "base",
        "--json",
    )
    assert r.code == 0 and r.json()["fallback"] is True and r.json()["model_type"] == "base"
    assert "fell back to lineage.model_type 'base'" in r.err
    table = cli(zoo.root, "find", "latest", "-m", "eth", "--model-type", "continued", "--fallback-model-type", "base")
    assert "fell back" in table.err and "eth v1" in table.out


def test_cli_find_errors(zoo, cli):
    r = cli(zoo.root, "find", "best", "--metric", "score")
    assert r.code == 1 and "pass --higher-is-better or --lower-is-better" in r.err
    r = cli(zoo.root, "find", "latest", "--model-type", "curriculum")
    assert r.code == 1 and r.err.startswith("Error: no version matches any model, lineage.model_type 'curriculum'")
    r = cli(zoo.root, "find", "latest", "--version-type", "newest")
    assert r.code == 2
    r = cli(zoo.root, "find", "stage", "beta", "--param", "timeframe")
    assert r.code == 1 and "expected KEY=VALUE" in r.err


def test_cli_find_stage(zoo, cli):
    rows = cli(zoo.root, "find", "stage", "beta", "--param", "timeframe=1H", "--json").json()
    assert [(v["name"], v["version"], v["stage"]) for v in rows] == [("btc", 1, "beta")]
    assert cli(zoo.root, "find", "stage", "champion", "--json").json() == []
    empty = cli(zoo.root, "find", "stage", "champion")
    assert empty.code == 0 and "no version is in stage 'champion'" in empty.out
    assert "btc" in cli(zoo.root, "find", "stage", "beta").out


# -- the same answers over columns (core/tables.py, what the read catalog serves) ------------------------
def _tricky_records():
    """Records with the values that differ between views and columns if anything does: ints equal to floats,
    non-finite metrics, missing values, LIKE's own characters, ties in created_at, bases from other models."""
    from mlreg.core.records import Version

    out = []
    for m in range(4):
        for n in range(1, 7):
            doc = {
                "name": f"m{m}",
                "version": n,
                "created_at": f"2025-0{1 + (n % 3)}-01T00:00:00Z",
                "created_by": "Bench <b@x>" if n % 2 else "Other <o@x>",
                "stage": ["development", "beta", "archived"][(m + n) % 3],
                "description": None if n == 3 else f"run {n}% of_{m}",
                "params": {"timeframe": ["1H", "4H", "1_H"][(m * n) % 3]} | ({"lr": "0.1"} if n % 2 else {}),
                "metrics": {
                    "rmse_val": [1, 1.0, 0.5, float("nan"), float("inf"), 2][(m + n) % 6],
                    **({"auc_val": 0.5 + ((m * 7 + n) % 5) / 10} if (m + n) % 4 else {}),
                },
                "tags": {"team": "a%b"} if m % 2 else {},
                "lineage": {"model_type": ["base", "continued", "curriculum"][n % 3]}
                | ({"base": {"model": f"m{(m + 1) % 4}", "version": n}} if n % 3 == 2 else {}),
            }
            out.append(Version.from_dict(doc))
    return out


def _both_faces():
    from pathlib import Path

    from mlreg.core.views import VersionView
    from mlreg.storage.catalog import Catalog
    from mlreg.storage.catalogread import row_of

    records = _tricky_records()
    bases = {(r.lineage.base.model, r.lineage.base.version) for r in records if r.lineage.base}
    views = [VersionView(r, "old" if (r.name, r.version) in bases else "latest", Path("/x")) for r in records]
    groups = tuple((f"m{m}", tuple(range(1, 7))) for m in range(4))
    cat = Catalog(groups, None, None, dict(enumerate(row_of(r) for r in records)), [], None)
    return views, cat


@pytest.mark.parametrize(
    ("expr", "order"),
    [
        ("", ["metrics.rmse_val ASC"]),
        ("", ["metrics.rmse_val DESC", "created_at DESC"]),
        ("metrics.rmse_val <= 1", []),
        ("metrics.rmse_val = 1 and params.timeframe != '4H'", ["version DESC"]),
        ("params.timeframe LIKE '1_H'", []),
        ("params.timeframe ILIKE '1h'", ["name DESC"]),
        ("description LIKE '%\\%%'", []),
        ("tags.team = 'a%b' and version_type = 'old'", []),
        ("version_type = 'latest' and model_type IN ('base', 'curriculum')", ["metrics.auc_val DESC"]),
        ("stage NOT IN ('archived') and metrics.auc_val > 0.6", ["params.lr ASC", "run_name"]),
        ("created_at >= '2025-02-01' and created_by LIKE 'Bench%'", ["created_at DESC"]),
        ("name IN ('m1', 'm3') and version < 4", ["description"]),
    ],
)
def test_search_over_columns_answers_as_over_views(expr, order):
    from mlreg.core import search as s, tables

    views, cat = _both_faces()
    flt, keys = s.parse_filter(expr), s.parse_order_by(order)
    for limit in (None, 3):
        want = refs(s.search(views, flt, keys, limit))
        got = [cat.keys[i] for i in tables.search(cat, flt, keys, limit)]
        assert got == want, (expr, order, limit)


@pytest.mark.parametrize(
    ("metric", "model_type", "fallback", "params"),
    [
        ("rmse_val", None, None, None),  # 1 and 1.0 tie with 0.5 best; nan and inf never count
        ("auc_val", None, None, None),
        ("auc_val", "curriculum", None, {"timeframe": "1H"}),
        ("rmse_val", "nothing", "continued", None),
        ("auc_val", "base", "curriculum", {"lr": "0.1"}),
    ],
)
def test_find_best_over_columns_answers_as_over_views(metric, model_type, fallback, params):
    from mlreg.core import query, tables

    views, cat = _both_faces()
    want = query.find_best(views, metric, model_type=model_type, fallback_model_type=fallback, params=params)
    up = query.direction(metric, None)
    rows, candidates = tables.best(cat, metric, up, model_type, fallback, params)
    got = query.find_best(cat.views(rows), metric, model_type=model_type, fallback_model_type=fallback, params=params)
    got.candidates = candidates
    assert (got.record.name, got.record.version, got.value, got.tied_with, got.candidates, got.fallback) == (
        want.record.name,
        want.record.version,
        want.value,
        want.tied_with,
        want.candidates,
        want.fallback,
    )


@pytest.mark.parametrize(
    ("model_type", "version_type", "fallback", "params"),
    [(None, None, None, None), ("curriculum", "old", None, None), ("nothing", None, "continued", {"lr": "0.1"})],
)
def test_find_latest_over_columns_answers_as_over_views(model_type, version_type, fallback, params):
    from mlreg.core import query, tables

    views, cat = _both_faces()
    kw = {"model_type": model_type, "version_type": version_type, "fallback_model_type": fallback, "params": params}
    want = query.find_latest(views, **kw)
    rows, candidates = tables.latest(cat, model_type, version_type, fallback, params)
    got = query.find_latest(cat.views(rows), **kw)
    assert (got.record.name, got.record.version, candidates, got.fallback) == (
        want.record.name,
        want.record.version,
        want.candidates,
        want.fallback,
    )
