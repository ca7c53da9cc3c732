"""`model_type` means two things: the lineage flag (--model-type: base, continued) and the training's
params.model_type (lgbm). Help and errors tell them apart; --param model_type=lgbm filters on the second."""

from __future__ import annotations

import pytest

from mlreg.errors import NotFound

from helpers import world


@world
def trained(reg, training):
    reg.register("btc", training(metrics={"rmse_val": 0.07}))  # training() writes model_type lgbm
    reg.register("btc", training(metrics={"rmse_val": 0.05}, model_type="xgb"))
    reg.register("btc", training(metrics={"rmse_val": 0.06}), base="btc@1")  # lineage continued, lgbm
    return reg


def test_params_value_as_model_type_hints_at_the_param_filter(trained, cli):
    r = cli(trained.root, "find", "best", "--metric", "rmse_val", "--model-type", "lgbm")
    assert r.code == 1 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1
    assert "lineage.model_type 'lgbm'" in r.err
    assert "--model-type filters on lineage.model_type (base, continued" in r.err
    assert "'lgbm' is a params.model_type value" in r.err and "--param model_type=lgbm" in r.err


def test_param_filter_finds_the_best_lgbm(trained, cli):
    r = cli(trained.root, "find", "best", "--metric", "rmse_val", "--param", "model_type=lgbm", "--json")
    assert r.code == 0, r.err
    assert r.json()["version"]["version"] == 3 and r.json()["value"] == 0.06 and r.json()["candidates"] == 2


def test_param_filter_on_find_latest(trained, cli):
    r = cli(trained.root, "find", "latest", "--param", "model_type=xgb", "--json")
    assert r.code == 0, r.err and r.json()["version"]["version"] == 2
    both = cli(trained.root, "find", "latest", "--param", "model_type=lgbm", "--model-type", "base", "--json")
    assert both.json()["version"]["version"] == 1


def test_library_takes_params(trained):
    assert trained.find_best("rmse_val", params={"model_type": "lgbm"}, model_type="base").record.version == 1
    with pytest.raises(NotFound, match=r"params.model_type 'catboost'"):
        trained.find_latest(params={"model_type": "catboost"})


def test_unknown_everywhere_names_the_lineage_types_without_params_hint(trained):
    with pytest.raises(NotFound) as e:
        trained.find_latest(model_type="curriculum")
    assert "lineage.model_type (base, continued" in str(e.value) and "params.model_type value" not in str(e.value)


def test_known_lineage_type_gets_no_hint(trained):
    with pytest.raises(NotFound) as e:
        trained.find_best("auc", model_type="continued")
    assert str(e.value) == "no version of any model, lineage.model_type 'continued' has metric 'auc'"


@pytest.mark.parametrize("command", ["latest", "best"])
def test_help_tells_the_two_apart(trained, cli, command):
    out = " ".join(cli(trained.root, "find", command, "--help").out.split())
    assert "lineage.model_type" in out and "params.model_type" in out and "--param model_type=lgbm" in out
    group = " ".join(cli(trained.root, "find", "--help").out.split())
    assert "lineage type" in group and "--param model_type=lgbm" in group
