"""What sync leaves on MLflow's objects: one bookkeeping tag each, older syncs' tag sets migrated, and tags people
add by hand in MLflow left alone (a warning, never a conflict, never deleted)."""

from __future__ import annotations

import pytest

from .sync_helpers import bookkeeping, mark_of, runs_of, version_mark, versions_of, wanted_versions

pytestmark = pytest.mark.server


def register(reg, training, name, n, uniq, **kw):
    for _ in range(n):
        reg.register(name, training(experiment=f"{uniq}-exp"), **kw)


def test_one_bookkeeping_tag_per_version_and_per_run(reg, training, mlflow_server, uniq):
    name = f"{uniq}-m"
    register(reg, training, name, 2, uniq, tags={"owner": "ana"})
    reg.promote(name, "2", "beta", "good backtest")

    assert reg.sync(mlflow_server.url).ok

    c = mlflow_server.client()
    for v in versions_of(c, name).values():
        assert bookkeeping(v.tags) == ["mlreg.sync"], v.tags
        assert version_mark(v.tags)[1] == ["owner"]  # the record's own tags; stage, promotion_... are sync's by name
        run = c.get_run(v.run_id)
        assert bookkeeping(run.data.tags) == ["mlreg.sync"], run.data.tags
        assert mark_of(run.data.tags)["registry"] == reg.settings.registry_id
    assert bookkeeping(c.get_registered_model(name).tags) == ["mlreg.registry", "mlreg.sync"]
    again = reg.sync(mlflow_server.url)
    assert again.writes == 0 and reg.sync(mlflow_server.url, check=True).ok


def _as_an_older_sync_left_it(c, reg, name: str) -> None:
    """Rewrite mlreg's bookkeeping the way syncs before `mlreg.sync` wrote it (same digests)."""
    model = c.get_registered_model(name)
    c.delete_registered_model_tag(name, "mlreg.sync")
    c.set_registered_model_tag(name, "mlreg.digest", mark_of(model.tags)["digest"])
    wanted = wanted_versions(reg, name)
    for n, v in versions_of(c, name).items():
        c.delete_model_version_tag(name, str(n), "mlreg.sync")
        c.set_model_version_tag(name, str(n), "mlreg.digest", wanted[n].digest)
        c.set_model_version_tag(name, str(n), "mlreg.commit", wanted[n].commit)
        run = mark_of(c.get_run(v.run_id).data.tags)
        c.delete_tag(v.run_id, "mlreg.sync")
        for key, value in (
            ("mlreg.model", name),
            ("mlreg.version", str(n)),
            ("mlreg.digest", run["digest"]),
            ("mlreg.registry", run["registry"]),
        ):
            c.set_tag(v.run_id, key, value)


def test_an_older_syncs_tags_are_migrated_not_conflicts(reg, training, mlflow_server, uniq, cli):
    name = f"{uniq}-m"
    register(reg, training, name, 2, uniq)
    assert reg.sync(mlflow_server.url).ok
    c = mlflow_server.client()
    runs = sorted(r.info.run_id for r in runs_of(c, name))
    _as_an_older_sync_left_it(c, reg, name)
    assert runs_of(c, name) == []  # nothing carries mlreg.sync now
    c.set_model_version_tag(name, "1", "reviewed", "yes")  # someone's own tag since: theirs, kept

    check = reg.sync(mlflow_server.url, check=True)
    assert check.conflicts == [] and {(i.kind, i.status) for i in check.drift} == {
        ("model", "update"),
        ("version", "update"),
        ("run", "update"),
    }
    r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url)
    assert r.code == 0, r.out + r.err

    assert sorted(r.info.run_id for r in runs_of(c, name)) == runs  # the same runs, migrated, none made
    mv = versions_of(c, name)
    assert sorted(mv) == [1, 2] and all(bookkeeping(v.tags) == ["mlreg.sync"] for v in mv.values())
    assert mv[1].tags["reviewed"] == "yes" and "tags reviewed" in r.out and "not managed by git" in r.err
    assert all(bookkeeping(c.get_run(v.run_id).data.tags) == ["mlreg.sync"] for v in mv.values())
    assert bookkeeping(c.get_registered_model(name).tags) == ["mlreg.registry", "mlreg.sync"]
    assert reg.sync(mlflow_server.url, check=True).drift == []


def test_tags_added_by_hand_are_foreign_never_deleted(reg, training, mlflow_server, uniq, cli):
    name = f"{uniq}-m"
    register(reg, training, name, 1, uniq, tags={"owner": "ana"})
    assert reg.sync(mlflow_server.url).ok
    c = mlflow_server.client()
    run_id = versions_of(c, name)[1].run_id
    c.set_registered_model_tag(name, "wiki", "https://wiki/m")
    c.set_model_version_tag(name, "1", "reviewed", "yes")
    c.set_tag(run_id, "notebook", "n1")

    r = cli(reg.root, "sync", "--check", "--tracking-uri", mlflow_server.url, "--json")
    assert r.code == 0, r.out + r.err
    foreign = {
        (i["kind"], i["name"], i["detail"].split(":")[0]) for i in r.json()["changes"] if i["status"] == "foreign"
    }
    assert foreign == {
        ("model", name, "tags wiki"),
        ("version", f"{name}/1", "tags reviewed"),
        ("run", f"{name}/1", "tags notebook"),
    }
    r = cli(reg.root, "sync", "--check", "--tracking-uri", mlflow_server.url)
    assert r.code == 0 and "MLflow matches git" in r.out and "not managed by git" in r.err
    for args in ((), ("--force",)):
        r = cli(reg.root, "sync", *args, "--tracking-uri", mlflow_server.url)
        assert r.code == 0, r.out + r.err
    assert c.get_registered_model(name).tags["wiki"] == "https://wiki/m"
    assert versions_of(c, name)[1].tags["reviewed"] == "yes" and c.get_run(run_id).data.tags["notebook"] == "n1"

    # a tag git manages is still git's: removed in git, it goes from MLflow
    reg.tag_set(name, "1", "owner", None)
    assert reg.sync(mlflow_server.url).ok
    assert "owner" not in versions_of(c, name)[1].tags and "owner" not in c.get_run(run_id).data.tags
    assert versions_of(c, name)[1].tags["reviewed"] == "yes" and c.get_run(run_id).data.tags["notebook"] == "n1"
