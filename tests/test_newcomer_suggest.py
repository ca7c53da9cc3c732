"""Misspelt model, alias, ref and stage names get the nearest real ones suggested (difflib), in the library's
error message; nothing close means no suggestion."""

from __future__ import annotations

import pytest

from mlreg.errors import MlregError, NotFound

from conftest import git
from helpers import world


@world
def models(reg, training):
    for name in ("btc-1h", "btc-4h", "eth-1d"):
        reg.register(name, training())
    reg.alias_set("btc-1h", "prod", "1")
    return reg


def test_library_error_names_the_nearest_model(models, capsys):
    with pytest.raises(NotFound) as e:
        models.show("btc-1hh")
    assert str(e.value) == "model 'btc-1hh' not found in registry/; did you mean 'btc-1h'?"
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "args",
    [
        ["show", "btc-1hh"],
        ["show", "btc-1hh@latest"],
        ["resolve", "btc-1hh@prod"],
        ["history", "btc-1hh"],
        ["list", "--model", "btc-1hh"],
        ["find", "latest", "--model", "btc-1hh"],
    ],
)
def test_every_read_suggests_the_model(models, cli, args):
    r = cli(models.root, *args)
    assert r.code == 1 and "model 'btc-1hh' not found" in r.err and "did you mean 'btc-1h'?" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_case_only_difference_is_suggested(models, cli):
    r = cli(models.root, "show", "BTC-1H")
    assert r.code == 1 and "did you mean 'btc-1h'?" in r.err


def test_nothing_close_means_no_suggestion(models, cli):
    r = cli(models.root, "show", "zzzzzz")
    assert r.code == 1 and r.err.strip() == "Error: model 'zzzzzz' not found in registry/"


@pytest.mark.parametrize("ref, near", [("prdo", "prod"), ("champoin", "champion"), ("latets", "latest")])
def test_misspelt_alias_or_stage_ref(models, cli, ref, near):
    r = cli(models.root, "show", f"btc-1h@{ref}")
    assert r.code == 1 and f"did you mean '{near}'?" in r.err


def test_misspelt_stage_on_promote_changes_nothing(models, cli):
    head = git(models.root, "rev-parse", "HEAD")
    r = cli(models.root, "promote", "btc-1h@1", "chmpion", "--reason", "x")
    assert r.code == 1 and "unknown stage 'chmpion'" in r.err and "did you mean 'champion'?" in r.err
    assert git(models.root, "rev-parse", "HEAD") == head


def test_misspelt_stage_on_find_stage(models):
    with pytest.raises(MlregError, match=r"did you mean 'beta'\?"):
        models.find_by_stage("betaa")


def test_misspelt_alias_on_alias_rm(models, cli):
    r = cli(models.root, "alias", "rm", "btc-1h", "prd")
    assert r.code == 1 and "no alias 'prd'" in r.err and "did you mean 'prod'?" in r.err
