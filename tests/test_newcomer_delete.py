"""`alias delete` and `tag delete` are accepted beside `rm`: hidden names of the same commands."""

from __future__ import annotations

import pytest
import yaml

from conftest import git
from helpers import world


@world
def one(reg, training):
    """m v1 with alias prod and tag owner (built once per module, copied per test)."""
    reg.register("m", training())
    reg.alias_set("m", "prod", "1")
    reg.tag_set("m", "1", "owner", "ana")


@pytest.mark.parametrize("verb", ["delete", "rm"])
def test_alias_delete_removes_the_alias(one, cli, verb):
    r = cli(one.root, "alias", verb, "m", "prod")
    assert r.code == 0, r.err
    assert yaml.safe_load((one.root / "registry/m/model.yaml").read_text())["aliases"] == {}
    assert git(one.root, "log", "-1", "--format=%s").strip() == "mlreg: alias rm m prod (was v1)"


@pytest.mark.parametrize("verb", ["delete", "rm"])
def test_tag_delete_removes_the_tag(one, cli, verb):
    r = cli(one.root, "tag", verb, "m@1", "owner")
    assert r.code == 0, r.err
    assert '"owner"' not in (one.root / "registry/m/v1/metadata.json").read_text()
    assert git(one.root, "log", "-1", "--format=%s").strip() == "mlreg: tag rm m v1 owner"


def test_delete_is_hidden_from_the_command_list_but_named_in_rm_help(one, cli):
    listing = cli(one.root, "alias", "--help").out
    commands = [line.split()[0] for line in listing.split("Commands:")[1].splitlines() if line.strip()]
    assert commands == ["set", "rm"]
    assert "alias delete" in cli(one.root, "alias", "rm", "--help").out
    assert "tag delete" in cli(one.root, "tag", "rm", "--help").out


def test_delete_of_a_missing_alias_fails_like_rm(one, cli):
    head = git(one.root, "rev-parse", "HEAD")
    r = cli(one.root, "alias", "delete", "m", "nope")
    assert r.code == 1 and "no alias 'nope'" in r.err
    assert git(one.root, "rev-parse", "HEAD") == head
