"""Setting something to what it already is (an alias to its version, a tag to its value, a description to its
text) is a no-op: exit 0, no commit, no file touched, and the command says so. Safe to re-run in scripts."""

from __future__ import annotations

import pytest

from conftest import git
from helpers import world


@world
def two(reg, training):
    reg.register("m", training())
    reg.register("m", training())
    return reg


def snapshot(root):
    return git(root, "rev-parse", "HEAD"), git(root, "status", "--porcelain", "--untracked-files=all")


def test_alias_set_twice_is_a_no_op(two, cli):
    first = cli(two.root, "alias", "set", "m", "prod", "2")
    assert first.code == 0 and "committed" in first.out
    before = snapshot(two.root)
    again = cli(two.root, "alias", "set", "m", "prod", "2")
    assert again.code == 0, again.err
    assert "already points at v2" in again.out and "no commit" in again.out
    assert snapshot(two.root) == before
    assert "prod: 2" in (two.root / "registry/m/model.yaml").read_text()


def test_alias_set_through_another_ref_to_the_same_version_is_a_no_op(two, cli):
    cli(two.root, "alias", "set", "m", "prod", "2")
    before = snapshot(two.root)
    r = cli(two.root, "alias", "set", "m", "prod", "latest", "--json")
    assert r.code == 0 and r.json()["commit"] is None and r.json()["paths"] == []
    assert snapshot(two.root) == before


def test_alias_set_to_another_version_still_moves_it(two, cli):
    cli(two.root, "alias", "set", "m", "prod", "2")
    r = cli(two.root, "alias", "set", "m", "prod", "1")
    assert r.code == 0 and "committed" in r.out
    assert "prod: 1" in (two.root / "registry/m/model.yaml").read_text()
    assert git(two.root, "log", "-1", "--format=%s").strip() == "mlreg: alias m prod -> v1 (was v2)"


def test_no_op_with_branch_makes_no_branch(two, cli):
    cli(two.root, "alias", "set", "m", "prod", "2")
    r = cli(two.root, "alias", "set", "m", "prod", "2", "--branch", "pr")
    assert r.code == 0 and "no commit" in r.out
    assert git(two.root, "branch", "--list", "pr") == ""


@pytest.mark.parametrize("target", ["m", "m@1"])
def test_tag_set_to_its_value_makes_no_empty_commit(two, cli, target):
    assert cli(two.root, "tag", "set", target, "owner", "ana").code == 0
    before = snapshot(two.root)
    r = cli(two.root, "tag", "set", target, "owner", "ana")
    assert r.code == 0 and "already 'ana'" in r.out and "no commit" in r.out
    assert snapshot(two.root) == before
    assert cli(two.root, "tag", "set", target, "owner", "bo").code == 0
    assert snapshot(two.root)[0] != before[0]


def test_describe_with_the_same_text_makes_no_empty_commit(two, cli):
    assert cli(two.root, "describe", "m", "hourly BTC").code == 0
    before = snapshot(two.root)
    r = cli(two.root, "describe", "m", "hourly BTC")
    assert r.code == 0 and "no commit" in r.out
    assert snapshot(two.root) == before


def test_library_says_nothing_changed(two):
    two.alias_set("m", "prod", "2")
    done = two.alias_set("m", "prod", "2")
    assert done.commit is None and done.paths == [] and "already points at v2" in done.notes[0]
