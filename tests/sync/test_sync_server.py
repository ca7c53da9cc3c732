"""mlreg sync against a real `mlflow server`: mapping, incremental writes, conflicts, pruning, interrupts."""

from __future__ import annotations

import json

import pytest

from mlreg.errors import MlregError

from .sync_helpers import aliases_of, bookkeeping, free_port, git, mark_of, runs_of, version_mark, versions_of

pytestmark = pytest.mark.server
PLACEHOLDER = "mlreg.placeholder"


def register(reg, training, name, n, uniq, **kw):
    """n versions of `name`, logged to this test's own experiment."""
    for i in range(n):
        reg.register(
            name, training(experiment=f"{uniq}-exp", metrics={"rmse_val": 0.07 - i / 1000, "rmse_test": 0.05}), **kw
        )


def test_first_sync_mirrors_models_runs_versions_tags_and_aliases(reg, training, mlflow_server, uniq):
    a, b = f"{uniq}-lgbm", f"{uniq}-agent"
    register(reg, training, a, 2, uniq, tags={"target_type": "regression"})
    reg.promote(a, "1", "beta", "good backtest")
    reg.promote(a, "1", "champion", "best so far")
    reg.promote(a, "2", "beta", "better")
    reg.promote(a, "2", "champion", "beat v1 on paper trading")
    reg.alias_set(a, "Staging", "1")
    reg.tag_set(a, None, "team", "quant")
    reg.register(
        b,
        training(
            experiment=f"{uniq}-rl",
            total_timesteps=150000,
            previous_timesteps=100000,
            files={"model.zip": "agent", "vecnormalize.json": "{}"},
        ),
        base=f"{a}@1",
        enhancement_type="continued",
    )

    report = reg.sync(mlflow_server.url)

    assert report.ok and report.totals()["created"] == 2 + 3 + 3 + 2 and report.totals()["conflicts"] == 0
    c = mlflow_server.client()
    rm = c.get_registered_model(a)
    assert rm.tags["team"] == "quant" and aliases_of(c, a) == {"champion": 2, "Staging": 1}
    mv = versions_of(c, a)
    assert sorted(mv) == [1, 2]
    t1, t2 = mv[1].tags, mv[2].tags
    assert t2["stage"] == "champion" and t1["stage"] == "archived"
    assert t1["version_type"] == "old" and t2["version_type"] == "latest" and t2["model_type"] == "base"
    assert t1["demotion_reason"] == "New champion promoted" and t1["demotion_timestamp"].endswith("Z")
    assert t2["promotion_reason"] == "beat v1 on paper trading" and t2["target_type"] == "regression"
    promos = {k: v for k, v in t2.items() if k.startswith("promotion_2")}
    assert sorted(promos.values()) == ["beta -> champion", "development -> beta"]
    assert t2["last_promoted_at"] == max(k[len("promotion_") : len("promotion_") + 13] for k in promos)
    assert version_mark(t2) == (version_mark(t2)[0], ["target_type"])  # the record's own tags: the rest is sync's
    assert version_mark(t2)[0] != version_mark(t1)[0]
    assert bookkeeping(t1) == bookkeeping(t2) == ["mlreg.sync"]  # mlreg's bookkeeping: one tag per version
    run = c.get_run(mv[2].run_id)
    assert run.info.status == "FINISHED" and run.info.run_name.startswith("run_")
    assert c.get_experiment(run.info.experiment_id).name == f"{uniq}-exp"
    assert run.data.params["objective"] == "huber" and run.data.params["dataset_slug"] == "BINANCE_BTCUSDT.P_60"
    assert run.data.metrics == {"rmse_val": 0.069, "rmse_test": 0.05}
    assert mark_of(run.data.tags)["model"] == a and mark_of(run.data.tags)["version"] == 2
    assert bookkeeping(run.data.tags) == ["mlreg.sync"]  # and one per run
    assert run.data.tags["target_type"] == "regression"
    assert sorted(f.path for f in c.list_artifacts(run.info.run_id)) == ["model.txt", "run_metadata.json"]
    assert mv[2].source == run.info.artifact_uri
    # the enhanced version points at its base's run
    (enhanced,) = versions_of(c, b).values()
    base_run = mv[1].run_id
    assert enhanced.tags["base_model_run_id"] == base_run
    assert enhanced.tags["base_model_path"] == f"runs:/{base_run}/model.txt"
    assert enhanced.tags["enhancement_type"] == "continued" and enhanced.tags["model_type"] == "continued"
    assert enhanced.tags["previous_timesteps"] == "100000" and enhanced.tags["total_timesteps"] == "150000"
    assert "enhancement_timestamp" in enhanced.tags
    improvement = reg.get(b, "1").record.metrics["improvement_rmse_val"]
    assert c.get_run(enhanced.run_id).data.metrics["improvement_rmse_val"] == improvement != 0


def test_second_sync_writes_nothing_and_reads_in_bulk(reg, training, mlflow_server, uniq, http_log):
    names = [f"{uniq}-m{i}" for i in range(3)]
    for i, name in enumerate(names):
        register(reg, training, name, i + 1, uniq)
    reg.promote(names[2], "3", "beta", "ok")
    reg.promote(names[2], "3", "champion", "ok")
    assert reg.sync(mlflow_server.url).ok
    http_log.clear()

    report = reg.sync(mlflow_server.url)

    assert report.ok and report.writes == 0
    assert report.totals() | {"unchanged": 0} == dict.fromkeys(report.totals(), 0)
    assert http_log.writes == []
    # the database check (one row of the default experiment: diagnose.preflight), then 3 models, 6 versions:
    # registered models, this registry's models git no longer has, versions, experiments, runs -- one query each
    assert http_log.calls[0] == ("GET", "api/2.0/mlflow/experiments/get"), http_log.calls
    assert len(http_log.calls) == 6, http_log.calls


def test_promotion_in_git_moves_tags_and_alias_only(reg, training, mlflow_server, uniq, http_log):
    name = f"{uniq}-m"
    register(reg, training, name, 3, uniq)
    for n in ("2", "3"):
        reg.promote(name, n, "beta", "ok")
    reg.promote(name, "2", "champion", "first champion")
    assert reg.sync(mlflow_server.url).ok
    reg.promote(name, "3", "champion", "better rmse")
    http_log.clear()

    report = reg.sync(mlflow_server.url)

    assert report.ok
    c = mlflow_server.client()
    assert aliases_of(c, name) == {"champion": 3}
    mv = versions_of(c, name)
    assert mv[3].tags["stage"] == "champion" and mv[3].tags["promotion_reason"] == "better rmse"
    assert mv[2].tags["stage"] == "archived" and mv[2].tags["demotion_reason"] == "New champion promoted"
    assert mv[1].tags["stage"] == "development"
    changed = {(i.kind, i.name) for i in report.items if i.status == "update"}
    assert changed == {("version", f"{name}/2"), ("version", f"{name}/3"), ("alias", f"{name}@champion")}
    paths = [p for _, p in http_log.writes]
    # version tags, the alias, and the model's claim tag (mlreg.aliases records where mlreg put each alias)
    assert paths and all("set-tag" in p or "alias" in p for p in paths), paths
    assert not any("runs/" in p for p in paths)


def test_hand_edit_in_mlflow_is_drift_and_a_conflict_until_forced(reg, training, mlflow_server, uniq, cli):
    name = f"{uniq}-m"
    register(reg, training, name, 2, uniq)
    assert reg.sync(mlflow_server.url).ok
    c = mlflow_server.client()
    c.set_model_version_tag(name, "1", "stage", "production")
    c.set_registered_model_alias(name, "hand", "2")

    r = cli(reg.root, "sync", "--check", "--tracking-uri", mlflow_server.url)
    assert r.code == 1
    assert f"{name}/1" in r.out and "edited in MLflow" in r.out and f"{name}@hand" in r.out

    r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url)
    assert r.code == 1 and "nothing was written" in r.err
    assert versions_of(c, name)[1].tags["stage"] == "production"

    r = cli(reg.root, "sync", "--force", "--tracking-uri", mlflow_server.url, "--json")
    assert r.code == 0, r.out + r.err
    assert versions_of(c, name)[1].tags["stage"] == "development"
    assert aliases_of(c, name) == {"hand": 2}  # not git's: left alone, never deleted
    assert [i["name"] for i in r.json()["changes"] if i["status"] == "foreign"] == [f"{name}@hand"]


def test_foreign_version_number_is_a_conflict_even_with_force(reg, training, mlflow_server, uniq, cli):
    name = f"{uniq}-m"
    c = mlflow_server.client()
    c.create_registered_model(name)
    run = c.create_run(c.create_experiment(f"{uniq}-other"))
    c.create_model_version(name, run.info.artifact_uri, run.info.run_id, tags={"owner": "someone"})
    register(reg, training, name, 2, uniq)

    r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url)
    assert r.code == 1 and f"{name}/1" in r.out and "mlreg did not create" in r.out
    assert runs_of(c, name) == [] and sorted(versions_of(c, name)) == [1]  # stopped before any write

    r = cli(reg.root, "sync", "--force", "--tracking-uri", mlflow_server.url)
    assert r.code == 1 and "nothing was written" in r.err
    mv = versions_of(c, name)
    assert sorted(mv) == [1] and mv[1].tags == {"owner": "someone"}  # a conflict left: --force writes nothing
    assert runs_of(c, name) == []


def test_interrupted_sync_resumes_without_duplicates(reg, training, mlflow_server, uniq):
    c = mlflow_server.client()
    for stop_after in (1, 4, 7):
        name = f"{uniq}-k{stop_after}"
        register(reg, training, name, 4, uniq)
        steps = []

        def progress(label, total, stop_after=stop_after, steps=steps):
            steps.append(label)
            if len(steps) == stop_after:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            reg.sync(mlflow_server.url, model=name, progress=progress)
        report = reg.sync(mlflow_server.url, model=name)
        assert report.ok, report.conflicts
        runs = runs_of(c, name)
        assert sorted(mark_of(r.data.tags)["version"] for r in runs) == [1, 2, 3, 4]
        assert all(r.info.status == "FINISHED" for r in runs)
        mv = versions_of(c, name)
        assert sorted(mv) == [1, 2, 3, 4]
        assert {mv[n].run_id for n in mv} == {r.info.run_id for r in runs}
        assert reg.sync(mlflow_server.url, model=name, check=True).ok


def test_unfinished_run_from_a_crash_is_finished_not_duplicated(reg, training, mlflow_server, uniq):
    name = f"{uniq}-m"
    register(reg, training, name, 1, uniq)
    c = mlflow_server.client()
    exp = c.create_experiment(f"{uniq}-exp")
    from mlreg.sync import registry_id

    # died right after create_run (sync makes runs with this tag in that one call)
    mark = {"digest": "", "model": name, "registry": registry_id(reg.root, reg.settings), "tags": [], "version": 1}
    crashed = c.create_run(exp, tags={"mlreg.sync": json.dumps(mark, sort_keys=True, separators=(",", ":"))})

    assert reg.sync(mlflow_server.url).ok

    runs = runs_of(c, name)
    assert len(runs) == 1, [(r.info.run_id, r.info.status, r.data.tags) for r in runs]
    run = runs[0]
    assert run.info.run_id == crashed.info.run_id and run.info.status == "FINISHED"
    assert run.data.params["objective"] == "huber"
    assert versions_of(c, name)[1].run_id == crashed.info.run_id


def test_killed_sync_process_then_rerun_has_no_duplicates(reg, training, mlflow_server, uniq):
    import subprocess
    import sys
    import time

    name, n = f"{uniq}-m", 30
    for _ in range(n):
        reg.register(
            name,
            training(
                experiment=f"{uniq}-exp", files={"model.txt": "m" * 20000, "features.txt": "f", "extra/cfg.json": "{}"}
            ),
        )
    c = mlflow_server.client()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlreg", "-C", str(reg.root), "sync", "--tracking-uri", mlflow_server.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not c.search_model_versions(f"name = '{name}'") and proc.poll() is None and time.monotonic() < deadline:
        pass  # poll until the first model version exists, then kill -9 mid-sync
    proc.kill()
    proc.wait()
    before = len(versions_of(c, name))
    assert 0 < before < n

    assert reg.sync(mlflow_server.url).ok

    runs = runs_of(c, name)
    assert sorted(mark_of(r.data.tags)["version"] for r in runs) == list(range(1, n + 1))
    mv = versions_of(c, name)
    assert sorted(mv) == list(range(1, n + 1)) and len({v.run_id for v in mv.values()}) == n
    assert sorted(f.path for f in c.list_artifacts(mv[n].run_id, "extra")) == ["extra/cfg.json"]


def test_prune_removes_what_git_no_longer_has(reg, training, mlflow_server, uniq):
    name = f"{uniq}-m"
    register(reg, training, name, 3, uniq)
    reg.alias_set(name, "Staging", "2")
    assert reg.sync(mlflow_server.url).ok
    git(reg.root, "rm", "-rq", f"registry/{name}/v3")
    git(reg.root, "commit", "-qm", "drop v3")
    reg.alias_rm(name, "Staging")
    c = mlflow_server.client()
    v3_run = versions_of(c, name)[3].run_id

    report = reg.sync(mlflow_server.url)
    assert report.ok
    assert sorted((i.kind, i.name) for i in report.items if i.status == "extra") == [
        ("run", f"{name}/3"),
        ("version", f"{name}/3"),
    ]
    assert sorted(versions_of(c, name)) == [1, 2, 3]
    assert aliases_of(c, name) == {}  # an alias removed in git goes on a plain sync
    assert not reg.sync(mlflow_server.url, check=True).ok

    report = reg.sync(mlflow_server.url, prune=True)

    assert report.ok and report.totals()["pruned"] == 2
    assert sorted(versions_of(c, name)) == [1, 2]
    assert c.get_run(v3_run).info.lifecycle_stage == "deleted"
    assert reg.sync(mlflow_server.url, check=True).ok


def test_gap_in_git_numbers_keeps_mlflow_numbers_equal(reg, training, mlflow_server, uniq):
    name = f"{uniq}-m"
    register(reg, training, name, 3, uniq)
    git(reg.root, "rm", "-rq", f"registry/{name}/v2")
    git(reg.root, "commit", "-qm", "drop v2 before any sync")

    assert reg.sync(mlflow_server.url).ok

    mv = versions_of(mlflow_server.client(), name)
    assert sorted(mv) == [1, 3] and all(PLACEHOLDER not in v.tags for v in mv.values())
    assert reg.sync(mlflow_server.url, check=True).ok


def test_external_artifacts_are_uploaded_when_readable_else_listed(reg, training, mlflow_server, uniq):
    readable, gone = f"{uniq}-m", f"{uniq}-gone"
    reg.register(readable, training(experiment=f"{uniq}-exp", files={"model.bin": "weights"}), external=True)
    folder = training(experiment=f"{uniq}-exp", files={"model.bin": "lost"})
    reg.register(gone, folder, external=True)
    (folder / "model.bin").unlink()  # unreadable where sync runs: only listed
    (folder / "run_metadata.json").unlink()
    assert reg.sync(mlflow_server.url).ok
    c = mlflow_server.client()
    run_id = versions_of(c, readable)[1].run_id
    assert sorted(f.path for f in c.list_artifacts(run_id)) == ["model.bin", "run_metadata.json"]
    with open(c.download_artifacts(run_id, "model.bin")) as f:
        assert f.read() == "weights"
    gone_run = versions_of(c, gone)[1].run_id
    assert [f.path for f in c.list_artifacts(gone_run)] == ["mlreg_external.json"]
    with open(c.download_artifacts(gone_run, "mlreg_external.json")) as f:
        listed = json.load(f)
    assert sorted(a["uri"].rsplit("/", 1)[-1] for a in listed["external_artifacts"]) == [
        "model.bin",
        "run_metadata.json",
    ]


def test_training_run_named_by_mlflow_run_id_is_used(reg, training, mlflow_server, uniq):
    name = f"{uniq}-m"
    c = mlflow_server.client()
    exp = c.create_experiment(f"{uniq}-exp")
    trained = c.create_run(exp, run_name="logged-during-training")
    reg.register(name, training(experiment=f"{uniq}-exp", mlflow_run_id=trained.info.run_id))
    reg.register(name, training(experiment=f"{uniq}-exp", mlflow_run_id="0" * 32))  # not on this server

    assert reg.sync(mlflow_server.url).ok

    mv = versions_of(c, name)
    assert mv[1].run_id == trained.info.run_id and mv[1].source == trained.info.artifact_uri
    assert [mark_of(r.data.tags)["version"] for r in runs_of(c, name)] == [2]
    assert reg.sync(mlflow_server.url, check=True).ok


def test_champion_loads_with_mlflow_pyfunc(reg, pyfunc_training, mlflow_server, uniq, monkeypatch):
    import mlflow.pyfunc
    import pandas as pd

    name = f"{uniq}-scaler"
    for factor in (2, 3):
        reg.register(name, pyfunc_training(factor, f"{uniq}-exp"))
    reg.promote(name, "2", "beta", "backtest passed")
    reg.promote(name, "2", "champion", "best rmse_val")
    assert reg.sync(mlflow_server.url).ok

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")

    assert list(model.predict(pd.DataFrame({"x": [1.0, 2.0]}))) == [3.0, 6.0]
    assert versions_of(mlflow_server.client(), name)[2].source.endswith("/artifacts/model")


def test_dry_run_prints_the_plan_and_writes_nothing(reg, training, mlflow_server, uniq, cli):
    name = f"{uniq}-m"
    register(reg, training, name, 2, uniq)
    r = cli(reg.root, "sync", "--dry-run", "--tracking-uri", mlflow_server.url)
    assert r.code == 0 and "dry run" in r.out and f"{name}/2" in r.out and "create" in r.out
    c = mlflow_server.client()
    assert c.search_registered_models(f"name = '{name}'") == [] and runs_of(c, name) == []


def test_model_option_syncs_one_model(reg, training, mlflow_server, uniq, cli):
    a, b = f"{uniq}-a", f"{uniq}-b"
    register(reg, training, a, 1, uniq)
    register(reg, training, b, 1, uniq)
    r = cli(reg.root, "sync", "--model", a, "--tracking-uri", mlflow_server.url, "--json")
    assert r.code == 0 and r.json()["totals"]["created"] == 3
    c = mlflow_server.client()
    assert [m.name for m in c.search_registered_models(f"name LIKE '{uniq}-%'")] == [a]


def test_unreachable_server_fails_fast_without_leaking_credentials(reg, training, uniq, cli):
    import time

    register(reg, training, f"{uniq}-m", 1, uniq)
    url = f"http://bob:hunter2secret@127.0.0.1:{free_port()}"
    start = time.monotonic()
    r = cli(reg.root, "sync", "--tracking-uri", url)
    assert time.monotonic() - start < 15
    assert r.code == 1 and "Traceback" not in r.err
    assert "Error: cannot reach MLflow at http://***@127.0.0.1" in r.err
    assert "hunter2secret" not in r.out + r.err
    with pytest.raises(MlregError, match="cannot reach MLflow"):
        reg.sync(url)


def test_tag_change_in_git_updates_version_and_run_tags(reg, training, mlflow_server, uniq, http_log):
    name = f"{uniq}-m"
    register(reg, training, name, 2, uniq)
    assert reg.sync(mlflow_server.url).ok
    reg.tag_set(name, "1", "reviewed-by", "risk-team")
    http_log.clear()

    report = reg.sync(mlflow_server.url)

    assert report.ok and report.totals()["conflicts"] == 0
    assert {(i.kind, i.name) for i in report.items if i.status == "update"} == {
        ("run", f"{name}/1"),
        ("version", f"{name}/1"),
    }
    c = mlflow_server.client()
    v1 = versions_of(c, name)[1]
    assert v1.tags["reviewed-by"] == "risk-team" and c.get_run(v1.run_id).data.tags["reviewed-by"] == "risk-team"
    assert len(http_log.writes) == 3  # run: log-batch (tag + mlreg.sync); version: set-tag x2 (tag, mlreg.sync)


def test_hand_edited_run_metric_is_restored_with_force(reg, training, mlflow_server, uniq):
    name = f"{uniq}-m"
    register(reg, training, name, 1, uniq)
    assert reg.sync(mlflow_server.url).ok
    c = mlflow_server.client()
    run_id = versions_of(c, name)[1].run_id
    c.log_metric(run_id, "rmse_val", 0.5)

    check = reg.sync(mlflow_server.url, check=True)
    assert not check.ok and [(i.kind, i.status) for i in check.drift] == [("run", "conflict")]
    assert "metrics rmse_val" in check.drift[0].detail
    assert reg.sync(mlflow_server.url, force=True).ok
    assert c.get_run(run_id).data.metrics["rmse_val"] == 0.07
    assert reg.sync(mlflow_server.url, check=True).ok


def test_force_never_edits_a_model_another_registry_made(reg, training, mlflow_server, uniq, cli):
    name, other = f"{uniq}-tiny", f"{uniq}-agent"
    c = mlflow_server.client()  # what another registry's sync left: an mlreg-tagged version, champion claimed
    c.create_registered_model(name, {"mlreg.aliases": "champion=1", "mlreg.digest": "x"}, "their model")
    run = c.create_run(c.create_experiment(f"{uniq}-theirs"))
    c.create_model_version(name, run.info.artifact_uri, run.info.run_id, tags={"mlreg.digest": "y"})
    c.set_registered_model_alias(name, "champion", "1")
    register(reg, training, name, 1, uniq)
    register(reg, training, other, 1, uniq)

    r = cli(reg.root, "sync", "--force", "--tracking-uri", mlflow_server.url, "--json")

    assert r.code == 1 and r.json()["totals"]["conflicts"] >= 1
    rm = c.get_registered_model(name)
    assert aliases_of(c, name) == {"champion": 1} and rm.description == "their model"
    assert rm.tags["mlreg.aliases"] == "champion=1"
    assert sorted(versions_of(c, name)) == [1] and c.search_registered_models(f"name = '{other}'") == []


def test_alias_moved_by_hand_is_a_conflict_until_forced(reg, training, mlflow_server, uniq, cli):
    name = f"{uniq}-m"
    register(reg, training, name, 2, uniq)
    reg.promote(name, "2", "beta", "ok")
    reg.promote(name, "2", "champion", "best")
    reg.alias_set(name, "Staging", "2")
    assert reg.sync(mlflow_server.url).ok
    c = mlflow_server.client()
    c.set_registered_model_alias(name, "champion", "1")

    r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url)
    assert r.code == 1 and f"{name}@champion" in r.out and "nothing was written" in r.err
    assert aliases_of(c, name) == {"champion": 1, "Staging": 2}

    assert cli(reg.root, "sync", "--force", "--tracking-uri", mlflow_server.url).code == 0
    assert aliases_of(c, name) == {"champion": 2, "Staging": 2}
    reg.alias_set(name, "Staging", "1")  # moved in git: a plain update, not a conflict
    report = reg.sync(mlflow_server.url)
    assert report.ok and aliases_of(c, name) == {"champion": 2, "Staging": 1}


def test_prune_finds_runs_in_experiments_git_no_longer_uses(reg, training, mlflow_server, uniq):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    reg.register(name, training(experiment=f"{uniq}-old"))
    assert reg.sync(mlflow_server.url).ok
    c = mlflow_server.client()
    old_run = versions_of(c, name)[2].run_id
    git(reg.root, "rm", "-rq", f"registry/{name}/v2")
    git(reg.root, "commit", "-qm", "drop v2")

    report = reg.sync(mlflow_server.url, prune=True)

    assert report.ok and ("run", f"{name}/2", "prune") in {(i.kind, i.name, i.status) for i in report.items}
    assert c.get_run(old_run).info.lifecycle_stage == "deleted" and sorted(versions_of(c, name)) == [1]
