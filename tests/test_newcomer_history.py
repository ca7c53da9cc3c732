"""`mlreg history` ties a demotion to the commit that made it (the promote that wrote it), never to another
commit that happens to carry the same timestamp."""

from __future__ import annotations

import datetime as dt

from mlreg.api import Registry

from conftest import git


def frozen() -> dt.datetime:
    """A clock that never moves: every write lands in the same second."""
    return dt.datetime(2025, 6, 10, 14, 17, tzinfo=dt.UTC)


def same_second(repo_dir, training) -> Registry:
    reg = Registry(repo_dir, clock=frozen)
    reg.init()
    for _ in range(3):
        reg.register("m", training())
    for n in (1, 2, 3):
        reg.promote("m", str(n), "beta", "ready")
    return reg


def test_demotion_attaches_to_the_promote_that_made_it(repo_dir, training, cli):
    reg = same_second(repo_dir, training)
    first = reg.promote("m", "1", "champion", "first").commit
    second = reg.promote("m", "2", "champion", "second").commit
    third = reg.promote("m", "3", "champion", "third").commit
    events = cli(reg.root, "history", "m", "--json").json()
    demotes = [(e["version"], e["commit"]) for e in events if e["action"] == "demote"]
    assert demotes == [(1, second), (2, third)]
    promotes = [
        (e["version"], e["commit"]) for e in events if e["action"] == "promote" and e["detail"].endswith("champion")
    ]
    assert promotes == [(1, first), (2, second), (3, third)]
    # each demotion is listed right after the promote whose commit wrote it
    order = [(e["action"], e["version"]) for e in events if e["commit"] in (second, third)]
    assert order == [("promote", 2), ("demote", 1), ("promote", 3), ("demote", 2)]
    assert "Demoted v1" in git(reg.root, "show", "-s", "--format=%B", second)


def test_rollback_demotion_attaches_to_the_rollback(repo_dir, training):
    reg = same_second(repo_dir, training)
    reg.promote("m", "1", "champion", "first")
    reg.promote("m", "2", "champion", "second")
    back = reg.rollback("m", reason="bad").commit
    events = reg.history("m")
    assert [(e.action, e.version, e.commit) for e in events if e.commit == back] == [
        ("rollback", 1, back),
        ("demote", 2, back),
    ]
    assert [e.commit for e in events if e.action == "demote" and e.version == 1] != [back]


def test_history_of_one_version_keeps_its_own_demotion(repo_dir, training):
    reg = same_second(repo_dir, training)
    reg.promote("m", "1", "champion", "first")
    second = reg.promote("m", "2", "champion", "second").commit
    events = reg.history("m", "1")
    assert [(e.action, e.commit) for e in events if e.action == "demote"] == [("demote", second)]
