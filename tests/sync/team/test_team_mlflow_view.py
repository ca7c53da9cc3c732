"""What people see in the team's MLflow: run times and system tags, foreign aliases, registry identity, webhooks."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlreg.api import Registry
from mlreg.sync import registry_id

from ..sync_helpers import aliases_of, git, mark_of, versions_of

pytestmark = pytest.mark.team


def register(reg, training, name, n, uniq):
    for i in range(n):
        reg.register(name, training(experiment=f"{uniq}-exp", metrics={"rmse_val": 0.07 - i / 1000}))


def test_run_page_shows_who_when_how_long_and_which_commit(reg, training, healthy_stack, uniq):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp", training_timestamp="2025-06-10T13:00:00Z"))
    reg.register(name, training(experiment=f"{uniq}-exp", duration_seconds=372))
    assert reg.sync(healthy_stack.url).ok
    c = healthy_stack.client()
    v = versions_of(c, name)[1]
    run = c.get_run(v.run_id)
    record = reg.get(name, "1").record
    # no duration recorded: training start to registration, not "Duration 0ms"
    assert run.info.end_time > run.info.start_time == 1749560400000
    timed = c.get_run(versions_of(c, name)[2].run_id)
    assert timed.info.end_time - timed.info.start_time == 372_000
    assert run.data.tags["mlflow.user"] == record.created_by
    assert (
        run.data.tags["mlflow.source.git.commit"]
        == git(reg.root, "log", "-1", "--format=%H", "--", f"registry/{name}/v1").strip()
    )
    assert mark_of(run.data.tags)["registry"] == registry_id(reg.root, reg.settings) == reg.settings.registry_id
    assert c.get_registered_model(name).tags["mlreg.registry"] == registry_id(reg.root, reg.settings)


def test_repromoted_version_loses_its_old_demotion_tags(reg, training, healthy_stack, uniq):
    name = f"{uniq}-m"
    register(reg, training, name, 2, uniq)
    for n in ("1", "2"):
        reg.promote(name, n, "beta", "ok")
        reg.promote(name, n, "champion", "best")  # v2 demotes v1
    reg.promote(name, "1", "beta", "retry")
    reg.promote(name, "1", "champion", "back")  # v1 champion again, v2 demoted
    assert reg.sync(healthy_stack.url).ok
    mv = versions_of(healthy_stack.client(), name)
    assert "demotion_reason" not in mv[1].tags and mv[1].tags["stage"] == "champion"
    assert mv[2].tags["demotion_reason"] == "New champion promoted"


def test_alias_added_in_mlflow_is_foreign_a_warning_not_a_conflict(reg, training, healthy_stack, uniq, cli):
    name = f"{uniq}-m"
    register(reg, training, name, 2, uniq)
    assert reg.sync(healthy_stack.url).ok
    c = healthy_stack.client()
    c.set_registered_model_alias(name, "canary", "2")
    r = cli(reg.root, "sync", "--tracking-uri", healthy_stack.url, "--check")
    assert r.code == 0 and "foreign" in r.out and "Warning:" in r.err and "MLflow matches git" in r.out
    reg.promote(name, "1", "beta", "ok")
    r = cli(reg.root, "sync", "--tracking-uri", healthy_stack.url)
    assert r.code == 0, r.err
    assert aliases_of(c, name) == {"canary": 2}


def test_another_registry_with_the_same_model_name_is_foreign(reg, training, healthy_stack, uniq, tmp_path):
    name = f"{uniq}-m"
    register(reg, training, name, 1, uniq)
    assert reg.sync(healthy_stack.url).ok
    other_root = tmp_path / "other"
    other_root.mkdir()
    git(other_root, "init", "-q")
    git(other_root, "commit", "-q", "--allow-empty", "-m", "initial")
    other = Registry(other_root)
    other.init()
    assert other.settings.registry_id != reg.settings.registry_id
    register(other, training, name, 1, uniq)
    report = other.sync(healthy_stack.url)
    assert not report.ok and report.conflicts
    c = healthy_stack.client()
    assert c.get_registered_model(name).tags["mlreg.registry"] == reg.settings.registry_id
    assert reg.sync(healthy_stack.url, check=True).ok  # the first registry still sees only its own


class _Receiver(BaseHTTPRequestHandler):
    got: list[dict] = []

    def do_POST(self):  # http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_fires_when_a_git_promotion_is_synced(reg, training, healthy_stack, uniq):
    name = f"{uniq}-m"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = healthy_stack.client()
        hook = c.create_webhook(
            f"{uniq}-deploy", f"http://127.0.0.1:{server.server_port}/deploy", events=["model_version_alias.created"]
        )
        register(reg, training, name, 2, uniq)
        assert reg.sync(healthy_stack.url).ok  # no alias yet
        reg.promote(name, "2", "beta", "ok")
        reg.promote(name, "2", "champion", "merged PR #12")
        assert reg.sync(healthy_stack.url).ok
        deadline = time.monotonic() + 30  # delivery is asynchronous: wait for it, bounded
        mine = []
        while not mine and time.monotonic() < deadline:
            mine = [p for p in _Receiver.got if p.get("data", {}).get("name") == name]
            time.sleep(0.1)
        assert mine, _Receiver.got
        assert mine[0]["entity"] == "model_version_alias" and mine[0]["action"] == "created"
        assert mine[0]["data"] == {"name": name, "alias": "champion", "version": "2"}
        c.delete_webhook(hook.webhook_id)
    finally:
        server.shutdown()
        server.server_close()  # the listening socket too (warnings are errors)


def test_model_removed_from_git_is_reported_then_pruned(reg, training, healthy_stack, uniq, cli):
    keep, gone = f"{uniq}-keep", f"{uniq}-gone"
    register(reg, training, keep, 1, uniq)
    register(reg, training, gone, 2, uniq)
    assert reg.sync(healthy_stack.url).ok
    git(reg.root, "rm", "-q", "-r", f"registry/{gone}")
    git(reg.root, "commit", "-q", "-m", "retire a model")

    r = cli(reg.root, "sync", "--tracking-uri", healthy_stack.url, "--check")
    assert r.code == 1 and gone in r.out and "removed from git" in r.out
    assert reg.sync(healthy_stack.url, prune=True).ok
    c = healthy_stack.client()
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        c.get_registered_model(gone)
    from ..sync_helpers import runs_of

    assert {r.info.lifecycle_stage for r in runs_of(c, gone)} == {"deleted"}
    assert sorted(versions_of(c, keep)) == [1]
    check = reg.sync(healthy_stack.url, check=True)
    assert check.ok, (
        [i for i in check.items if i.status != "unchanged"],
        [(r.info.status, r.info.lifecycle_stage, r.data.tags) for r in runs_of(c, keep)],
    )


def test_check_artifacts_finds_files_the_store_lost(reg, training, healthy_stack, uniq, cli):
    name = f"{uniq}-m"
    register(reg, training, name, 1, uniq)
    assert reg.sync(healthy_stack.url).ok
    c = healthy_stack.client()
    run = c.get_run(versions_of(c, name)[1].run_id)
    prefix = "mlflow/" + run.info.artifact_uri.split("mlflow-artifacts:/", 1)[1].strip("/") + "/"
    key = prefix + "model.txt"
    size = reg.get(name, "1").record.artifacts
    assert key in healthy_stack.objects(prefix)
    healthy_stack.s3().delete_object(Bucket=healthy_stack.info["bucket"], Key=key)

    assert cli(reg.root, "sync", "--tracking-uri", healthy_stack.url, "--check").code == 0  # metadata only
    r = cli(reg.root, "sync", "--tracking-uri", healthy_stack.url, "--check", "--artifacts")
    assert r.code == 1 and "artifact store lacks model.txt" in r.out
    assert cli(reg.root, "sync", "--tracking-uri", healthy_stack.url, "--artifacts").code == 0
    sizes = {a.path: a.size for a in size if a.path}
    assert healthy_stack.objects(prefix)[key] == sizes["model.txt"]
    assert cli(reg.root, "sync", "--tracking-uri", healthy_stack.url, "--check", "--artifacts").code == 0


def test_versions_list_shows_who_registered_each_version(reg, training, healthy_stack, uniq, tmp_path):
    """MLflow's versions list fills "Created by" from a version's user_id, which its server never takes from a
    client (CreateModelVersion has no such field; the SQL store leaves it NULL): the version carries its
    registering author from git as a `created_by` tag instead, which `import mlflow` does not take for a human tag."""
    name = f"{uniq}-m"
    register(reg, training, name, 1, uniq)
    assert reg.sync(healthy_stack.url).ok
    c = healthy_stack.client()
    record = reg.get(name, "1").record
    v = c.get_model_version(name, "1")
    assert not v.user_id  # MLflow's own column stays empty for every client, mlreg or not
    assert v.tags["created_by"] == record.created_by == c.get_run(v.run_id).data.tags["mlflow.user"]
    assert reg.sync(healthy_stack.url, check=True).ok

    other = tmp_path / "back"
    other.mkdir()
    git(other, "init", "-q")
    git(other, "commit", "-q", "--allow-empty", "-m", "initial")
    back = Registry(other)
    back.init()
    back.import_mlflow(healthy_stack.url, models=[name])
    assert "created_by" not in back.get(name, "1").record.tags
