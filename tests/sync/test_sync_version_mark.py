"""A model version's bookkeeping stays small (MLflow's version page shows it among the user's tags), and a store
an earlier sync wrote with the JSON form is read as it is, then rewritten once: no run or version made again."""

from __future__ import annotations

import json

import pytest

from mlreg.sync import local_store

from .sync_helpers import answers, bookkeeping, git, runs_of, version_mark, versions_of, wanted_versions

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def client_of(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def test_a_versions_bookkeeping_is_one_short_value(reg, training, monkeypatch):
    for _ in range(2):
        reg.register("m", training(), tags={"owner": "ana", "dataset": "btc-1h"})
    reg.promote("m", "2", "beta", "good backtest")
    reg.promote("m", "2", "champion", "beat v1 on paper trading")
    assert reg.sync().ok

    c = client_of(local_store(reg.root).uri)
    for n, v in versions_of(c, "m").items():
        digest, keys = version_mark(v.tags)
        assert bookkeeping(v.tags) == ["mlreg.sync"] and keys == ["dataset", "owner"]
        assert v.tags["mlreg.sync"] == f"{digest} dataset,owner" and len(v.tags["mlreg.sync"]) <= 30
        assert wanted_versions(reg, "m")[n].digest.startswith(digest)
        # the commit left the version's bookkeeping; its run still names the commit it was synced from
        made = git(reg.root, "log", "-1", "--format=%H", "--", f"registry/m/v{n}").strip()
        assert c.get_run(v.run_id).data.tags["mlflow.source.git.commit"] == made
    assert answers(reg, None, monkeypatch)["ok"] and reg.sync().writes == 0

    reg.tag_set("m", "1", "owner", None)  # removed in git: sync deletes it (the short value lists it)
    assert reg.sync().ok
    tags = versions_of(client_of(local_store(reg.root).uri), "m")[1].tags
    assert "owner" not in tags and version_mark(tags)[1] == ["dataset"]


def _as_the_json_form_left_it(c, reg, name: str) -> dict[int, str]:
    """Each version's `mlreg.sync` as syncs before the short form wrote it: {"commit","digest","tags"} JSON."""
    old = {}
    for n, want in wanted_versions(reg, name).items():
        tags = versions_of(c, name)[n].tags
        keys = sorted(k for k in tags if not k.startswith("mlreg."))
        old[n] = json.dumps({"commit": want.commit, "digest": want.digest, "tags": keys}, separators=(",", ":"))
        c.set_model_version_tag(name, str(n), "mlreg.sync", old[n])
    return old


@pytest.mark.parametrize("where", ["embedded", pytest.param("server", marks=pytest.mark.server)])
def test_a_store_synced_with_the_json_form_is_read_then_rewritten_once(reg, training, where, request, monkeypatch):
    server = request.getfixturevalue("mlflow_server") if where == "server" else None
    uri = server.url if server else None
    name = f"{request.getfixturevalue('uniq')}-m" if server else "m"
    for _ in range(3):
        reg.register(name, training(experiment=f"{name}-exp"), tags={"owner": "ana"})
    reg.promote(name, "3", "beta", "ok")
    assert reg.sync(uri).ok
    c = client_of(uri or local_store(reg.root).uri)
    runs = sorted(r.info.run_id for r in runs_of(c, name))
    old = _as_the_json_form_left_it(c, reg, name)
    c.set_model_version_tag(name, "2", "reviewed", "yes")  # someone's own tag: not in the JSON's list, so theirs

    doc = answers(reg, uri, monkeypatch)
    assert {(i["kind"], i["name"], i["status"], i["detail"]) for i in doc["changes"]} == {
        *(("version", f"{name}/{n}", "update", "tags mlreg.sync") for n in old),
        ("version", f"{name}/2", "foreign", "tags reviewed: set in MLflow, not managed by git; left alone"),
    }

    report = reg.sync(uri)
    assert report.ok and report.writes == len(old)  # one tag per version, nothing made again
    mv = versions_of(c, name)
    assert sorted(r.info.run_id for r in runs_of(c, name)) == runs and sorted(mv) == [1, 2, 3]
    assert all(version_mark(v.tags)[1] == ["owner"] for v in mv.values()) and mv[2].tags["reviewed"] == "yes"
    assert answers(reg, uri, monkeypatch)["ok"] and reg.sync(uri).writes == 0


@pytest.mark.server
def test_the_rewrite_is_one_set_tag_per_version(reg, training, mlflow_server, uniq, http_log):
    name = f"{uniq}-m"
    for _ in range(2):
        reg.register(name, training(experiment=f"{name}-exp"))
    assert reg.sync(mlflow_server.url).ok
    _as_the_json_form_left_it(mlflow_server.client(), reg, name)
    http_log.clear()

    assert reg.sync(mlflow_server.url).ok

    assert sorted(p for _, p in http_log.writes) == ["api/2.0/mlflow/model-versions/set-tag"] * 2
