"""The search-expression tokenizer and parser, and `search` over a registry built through the API."""

import pytest

from mlreg.core.search import Condition, Key, SearchSyntaxError, parse_filter, parse_order_by, tokenize

from helpers import world


@world
def zoo(reg, training):
    reg.register(
        "btc",
        training(metrics={"rmse_val": 0.07, "rmse_test": 0.05}, timeframe="1H"),
        tags={"target_type": "regression", "team.owner": "quant"},
    )
    reg.register("btc", training(metrics={"rmse_val": 0.05}, timeframe="1H", objective="l2"))
    reg.register(
        "btc",
        training(metrics={"rmse_val": 0.05}, timeframe="1H"),
        base="btc@2",
        enhancement_type="continued",
        tags={"target_type": "regression"},
    )
    reg.register("eth", training(metrics={"rmse_val": 0.06}, timeframe="4H"), tags={"target_type": "Regression"})
    reg.register("ppo", training(metrics={"evaluation/best_mean_reward": 12.5}, model_type="ppo", timeframe="1H"))
    reg.promote("btc", "3", "beta", "passed backtest")
    reg.promote("btc", "3", "champion", "best rmse")
    return reg


def refs(views):
    return [f"{v.record.name}/{v.record.version}" for v in views]


# -- tokenizer -----------------------------------------------------------------------------------
def test_tokenize_kinds_and_positions():
    toks = tokenize("metrics.`a/b` >= -1.5e-3 and params.x IN ('a', \"b\")")
    assert [(t.kind, t.text, t.pos) for t in toks[:6]] == [
        ("word", "metrics", 0),
        ("punct", ".", 7),
        ("key", "`a/b`", 8),
        ("op", ">=", 14),
        ("number", "-1.5e-3", 17),
        ("word", "and", 25),
    ]
    assert toks[4].value == -1.5e-3 and toks[2].value == "a/b"
    assert [t.value for t in toks if t.kind == "string"] == ["a", "b"] and toks[-1].kind == "end"


def test_tokenize_escaped_quotes_and_digit_led_keys():
    assert [t.value for t in tokenize("params.x = 'it''s' and tags.y = 'a\\'b'") if t.kind == "string"] == [
        "it's",
        "a'b",
    ]
    assert [t.text for t in tokenize("metrics.1h_return > 0")][:3] == ["metrics", ".", "1h_return"]
    assert tokenize("version <> 3")[1].value == "!="


# -- parser --------------------------------------------------------------------------------------
def test_parse_every_key_kind_and_operator():
    flt = parse_filter(
        "metrics.rmse_val < 0.07 and params.model_type = 'lgbm' and tags.`team.owner` LIKE 'q%' "
        "and attributes.stage != 'archived' AND version IN (1, 2) and name NOT IN ('x') "
        "and tags.mlflow.runName ILIKE '%RUN%' and created_at >= '2025-06-10'"
    )
    assert [(c.key.kind, c.key.name, c.op) for c in flt.conditions] == [
        ("metric", "rmse_val", "<"),
        ("param", "model_type", "="),
        ("tag", "team.owner", "LIKE"),
        ("attribute", "stage", "!="),
        ("attribute", "version", "IN"),
        ("attribute", "name", "NOT IN"),
        ("tag", "mlflow.runName", "ILIKE"),
        ("attribute", "created_at", ">="),
    ]
    assert flt.conditions[4].value == (1, 2) and flt.conditions[5].value == ("x",)


def test_empty_expression_matches_everything():
    assert parse_filter("").conditions == () and parse_filter("   ").conditions == ()


def test_model_names_pinned_by_the_filter():
    assert parse_filter("name = 'btc' and metrics.x > 1").model_names() == ["btc"]
    assert parse_filter("name IN ('a', 'b') and name = 'b'").model_names() == ["b"]
    assert parse_filter("name LIKE 'b%'").model_names() is None


@pytest.mark.parametrize(
    "expr, column, message",
    [
        ("metrics.rmse_val", 17, "expected an operator"),
        ("metrics.rmse_val < ", 20, "compares with a number, got the end of the expression"),
        ("metrics.rmse_val < 'x'", 20, "metrics.rmse_val compares with a number, got 'x'"),
        ("params.timeframe = 1H", 20, "compares with a quoted string, got 1H: write '1H'"),
        ("params.x > 'a'", 10, "params.x does not support >"),
        ("metrics.m LIKE 'a%'", 11, "metrics.m does not support LIKE"),
        ("metrics.a < 1 or metrics.b < 2", 15, "OR is not supported"),
        ("metrics.a < 1 metrics.b < 2", 15, "expected AND or the end of the expression, got 'metrics'"),
        ("rmse_val < 1", 1, "unknown attribute 'rmse_val'"),
        ("metric.rmse_val < 1 and foo.x = 'a'", 25, "unknown key prefix 'foo'"),
        ("metrics.evaluation/best_mean_reward > 1", 19, "unexpected character '/'"),
        ("metrics. < 1", 10, "expected a name after metrics."),
        ("params.x = 'open", 12, "unterminated '...': no closing '"),
        ("version IN 1, 2", 12, "expected '(' to start the IN list"),
        ("version IN (1 2)", 15, "expected ',' or ')' in the IN list"),
        ("version = 1.5", 11, "version is a whole number"),
        ("name NOT = 'x'", 10, "expected IN after NOT"),
        ("= 3", 1, "expected a key such as metrics.rmse_val"),
        ("params.x = 'a' and", 19, "expected a key"),
    ],
)
def test_malformed_expressions_point_at_the_column(expr, column, message):
    with pytest.raises(SearchSyntaxError) as e:
        parse_filter(expr)
    assert e.value.position == column - 1
    first, shown, caret = str(e.value).splitlines()
    assert first.startswith(f"invalid search expression at column {column}: ") and message in first
    assert shown == f"  {expr}" and caret == "  " + " " * (column - 1) + "^"


def test_parse_order_by():
    keys = parse_order_by(["metrics.rmse_val ASC, version desc", "metrics.`a/b`"])
    assert [(k.key.label, k.descending) for k in keys] == [
        ("metrics.rmse_val", False),
        ("version", True),
        ("metrics.a/b", False),
    ]
    with pytest.raises(SearchSyntaxError, match="invalid --order-by at column 18: expected ASC, DESC"):
        parse_order_by("metrics.rmse_val UP")


def test_condition_without_a_value_never_matches(zoo):
    eth = zoo.get("eth", "1")
    assert not Condition(Key("metric", "missing"), "!=", 1.0).matches(eth)
    assert not Condition(Key("param", "missing"), "!=", "x").matches(eth)
    assert Condition(Key("param", "timeframe"), "!=", "1H").matches(eth)


# -- search over a real registry -----------------------------------------------------------------
def test_search_metrics_params_and_tags(zoo):
    assert refs(zoo.search("metrics.rmse_val < 0.07")) == ["btc/2", "btc/3", "eth/1"]
    assert refs(zoo.search("metrics.rmse_val <= 0.06 and params.timeframe = '4H'")) == ["eth/1"]
    assert refs(zoo.search("tags.target_type = 'regression'")) == ["btc/1", "btc/3"]
    assert refs(zoo.search("tags.target_type ILIKE 'REG%'")) == ["btc/1", "btc/3", "eth/1"]
    assert refs(zoo.search("tags.target_type LIKE 'reg_ession'")) == ["btc/1", "btc/3"]
    assert refs(zoo.search("params.objective != 'huber'")) == ["btc/2"]
    assert refs(zoo.search("params.timeframe IN ('4H', '1D')")) == ["eth/1"]
    assert refs(zoo.search("metrics.`evaluation/best_mean_reward` > 10")) == ["ppo/1"]
    assert refs(zoo.search("tags.`team.owner` = 'quant'")) == ["btc/1"]


def test_search_attributes(zoo):
    assert refs(zoo.search("stage = 'champion'")) == ["btc/3"]
    assert refs(zoo.search("attributes.name = 'btc' and version >= 2")) == ["btc/2", "btc/3"]
    assert refs(zoo.search("model_type = 'continued'")) == ["btc/3"]
    assert refs(zoo.search("version_type = 'old'")) == ["btc/2"]
    assert refs(zoo.search("name NOT IN ('btc', 'ppo')")) == ["eth/1"]
    created = zoo.get("btc", "3").record.created_at
    assert refs(zoo.search(f"created_at > '{created}'")) == ["eth/1", "ppo/1"]
    assert refs(zoo.search("name = 'nope'")) == [] and refs(zoo.search("name = 'bad name!'")) == []


def test_search_order_by_several_keys_and_max_results(zoo):
    ranked = zoo.search("metrics.rmse_val > 0", order_by=["metrics.rmse_val ASC", "version DESC"])
    assert refs(ranked) == ["btc/3", "btc/2", "eth/1", "btc/1"]
    assert refs(zoo.search("", order_by="metrics.rmse_val DESC", max_results=2)) == ["btc/1", "eth/1"]
    # versions without the key sort last in either direction; ties fall back to name, then version
    assert refs(zoo.search("", order_by="metrics.rmse_test DESC"))[:2] == ["btc/1", "btc/2"]
    assert refs(zoo.search("", order_by="metrics.rmse_test ASC"))[-1] == "ppo/1"
    assert refs(zoo.search("")) == ["btc/1", "btc/2", "btc/3", "eth/1", "ppo/1"]


def test_search_empty_result_and_bad_max_results(zoo):
    assert zoo.search("metrics.rmse_val < 0.01") == []
    with pytest.raises(Exception, match="--max-results must be at least 1"):
        zoo.search("", max_results=0)


def test_cli_search(zoo, cli):
    rows = cli(
        zoo.root,
        "search",
        "metrics.rmse_val < 0.07 and params.model_type = 'lgbm'",
        "--order-by",
        "metrics.rmse_val ASC",
        "--order-by",
        "version DESC",
        "--max-results",
        "2",
        "--json",
    ).json()
    assert [(r["name"], r["version"]) for r in rows] == [("btc", 3), ("btc", 2)]
    assert rows[0]["version_type"] == "latest" and rows[1]["version_type"] == "old"
    empty = cli(zoo.root, "search", "metrics.rmse_val < 0")
    assert empty.code == 0 and "no version matches" in empty.out
    assert cli(zoo.root, "search", "metrics.rmse_val < 0", "--json").json() == []
    bad = cli(zoo.root, "search", "metrics.rmse_val < 0.07 and")
    assert bad.code == 1 and bad.out == ""
    assert bad.err.splitlines()[0].startswith("Error: invalid search expression at column 28: expected a key")
    assert bad.err.splitlines()[2] == "Error:   " + " " * 27 + "^"


def test_search_pinned_to_a_name_reads_only_that_model(zoo, read_models):
    assert refs(zoo.search("name = 'eth' and current_stage = 'beta'")) == []
    assert refs(zoo.search("name IN ('eth', 'zzz') and version_number = 1")) == ["eth/1"]
    assert set(read_models) == {"eth"}
