"""mlreg sync against the team stack: MLflow on PostgreSQL with S3 artifacts, and each part failing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlreg.errors import MlregError

from ..sync_helpers import aliases_of, git, runs_of, versions_of

pytestmark = pytest.mark.team


def register(reg, training, name, n, uniq):
    for i in range(n):
        reg.register(name, training(experiment=f"{uniq}-exp", metrics={"rmse_val": 0.07 - i / 1000}))


def s3_key(stack, artifact_uri: str, path: str) -> str:
    """The bucket key of a run artifact (proxied: mlflow-artifacts:/ maps onto s3://bucket/mlflow/)."""
    rest = (
        artifact_uri.split("mlflow-artifacts:/", 1)[1]
        if "mlflow-artifacts:" in artifact_uri
        else artifact_uri.split(f"s3://{stack.info['bucket']}/mlflow/", 1)[1]
    )
    return f"mlflow/{rest.strip('/')}/{path}"


def assert_mirrored(stack, reg, name: str, numbers: list[int]) -> None:
    """Every version READY on a FINISHED run whose files are in S3 with their recorded sizes."""
    c = stack.client()
    mv = versions_of(c, name)
    assert sorted(mv) == numbers
    objects = stack.objects()
    for n, v in mv.items():
        run = c.get_run(v.run_id)
        assert v.status == "READY" and run.info.status == "FINISHED"
        for a in reg.get(name, str(n)).record.artifacts:
            if a.path:
                assert objects.get(s3_key(stack, run.info.artifact_uri, a.path)) == a.size, a.path
    assert len(runs_of(c, name)) == len(numbers)  # no duplicates


def test_sync_check_noop_promotion_and_import_back(reg, training, healthy_stack, uniq, http_log, cli, tmp_path):
    stack, name = healthy_stack, f"{uniq}-m"
    register(reg, training, name, 2, uniq)
    reg.promote(name, "1", "beta", "backtest")
    reg.promote(name, "1", "champion", "first")

    assert reg.sync(stack.url).ok
    assert_mirrored(stack, reg, name, [1, 2])
    c = stack.client()
    assert aliases_of(c, name) == {"champion": 1}
    assert cli(reg.root, "sync", "--tracking-uri", stack.url, "--check").code == 0

    http_log.clear()
    report = reg.sync(stack.url)
    assert report.writes == 0 and http_log.writes == []

    reg.promote(name, "2", "beta", "better")
    reg.promote(name, "2", "champion", "beat v1")
    http_log.clear()
    assert reg.sync(stack.url).ok
    assert aliases_of(c, name) == {"champion": 2}
    assert versions_of(c, name)[2].tags["stage"] == "champion"
    assert not any("mlflow-artifacts" in path for _, path in http_log.writes)  # a promotion uploads nothing

    # import back into a fresh registry: same versions, same champion
    from mlreg.api import Registry

    other = tmp_path / "back"
    other.mkdir()
    git(other, "init", "-q")
    git(other, "commit", "-q", "--allow-empty", "-m", "initial")
    back = Registry(other)
    back.init()
    back.import_mlflow(stack.url, models=[name])
    assert [v.record.version for v in back.show(name).versions] == [1, 2]
    assert back.resolve(f"{name}@champion").record.version == 2


def test_s3_killed_mid_sync_no_version_before_its_run_is_finished(reg, training, healthy_stack, uniq):
    stack, name = healthy_stack, f"{uniq}-m"
    register(reg, training, name, 3, uniq)

    def kill_s3(label: str, total: int) -> None:
        if label.startswith("model "):
            stack.stop("s3")

    start = time.monotonic()
    with pytest.raises(MlregError, match="is up, but its artifact store is failing"):
        reg.sync(stack.url, progress=kill_s3)
    assert time.monotonic() - start < 30
    c = stack.client()
    assert versions_of(c, name) == {}
    assert {r.info.status for r in runs_of(c, name)} <= {"RUNNING"}

    # rerun while S3 is still down: the unfinished runs are not given versions
    with pytest.raises(MlregError, match="artifact store"):
        reg.sync(stack.url)
    assert versions_of(c, name) == {}

    stack.up()  # S3 back (empty: moto keeps objects in memory)
    assert reg.sync(stack.url).ok
    assert_mirrored(stack, reg, name, [1, 2, 3])
    assert reg.sync(stack.url, check=True).ok


def test_server_killed_mid_sync_then_rerun_converges(reg, training, healthy_stack, uniq):
    stack, name = healthy_stack, f"{uniq}-m"
    register(reg, training, name, 3, uniq)

    def kill_server(label: str, total: int) -> None:
        if label.startswith("run "):
            stack.stop("mlflow")  # SIGKILL

    with pytest.raises(MlregError, match="cannot reach MLflow"):
        reg.sync(stack.url, progress=kill_server)
    stack.up()
    assert reg.sync(stack.url).ok
    assert_mirrored(stack, reg, name, [1, 2, 3])


def test_postgres_stopped_mid_sync_is_named_and_rerun_converges(reg, training, healthy_stack, uniq, cli):
    stack, name = healthy_stack, f"{uniq}-m"
    register(reg, training, name, 2, uniq)

    def stop_db(label: str, total: int) -> None:
        if label.startswith("model "):
            stack.stop("postgres")

    with pytest.raises(MlregError, match=r"is up, but its database is failing \(PostgreSQL at 127\.0\.0\.1:\d+: "):
        reg.sync(stack.url, progress=stop_db)
    r = cli(reg.root, "sync", "--tracking-uri", stack.url, "--check")
    assert r.code == 1 and "its database is failing" in r.err and "Traceback" not in r.err
    stack.up()
    assert reg.sync(stack.url).ok
    assert_mirrored(stack, reg, name, [1, 2])


def test_hung_s3_is_a_clear_error_within_30_seconds(reg, training, healthy_stack, uniq, cli):
    stack, name = healthy_stack, f"{uniq}-m"
    register(reg, training, name, 1, uniq)
    with stack.hung_s3():
        start = time.monotonic()
        r = cli(reg.root, "sync", "--tracking-uri", stack.url)
        took = time.monotonic() - start
    assert r.code == 1 and "is up, but its artifact store is failing" in r.err and "Traceback" not in r.err
    assert took < 30, took
    assert versions_of(stack.client(), name) == {}
    assert reg.sync(stack.url).ok
    assert_mirrored(stack, reg, name, [1])


def test_direct_s3_with_and_without_keys(reg, training, team_direct, uniq, cli, monkeypatch):
    stack, name = team_direct, f"{uniq}-m"
    register(reg, training, name, 1, uniq)
    # without keys: its own process (MLflow caches S3 clients, credentials included, per process)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_EC2_METADATA_DISABLED": "true", "MLFLOW_S3_ENDPOINT_URL": stack.info["s3_endpoint"]}
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "mlreg", "sync", "--tracking-uri", stack.url],
        cwd=reg.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "S3 credentials missing" in r.stderr and "unexpected" not in r.stderr, r.stderr
    assert time.monotonic() - start < 30
    assert versions_of(stack.client(), name) == {}

    for k, v in stack.info["env"].items():
        monkeypatch.setenv(k, v)
    r = cli(reg.root, "sync")
    assert r.code == 0, r.err
    run = stack.client().get_run(versions_of(stack.client(), name)[1].run_id)
    assert run.info.artifact_uri.startswith(f"s3://{stack.info['bucket']}/")
    assert_mirrored(stack, reg, name, [1])


def test_traceback_is_accepted_after_the_subcommand(reg, cli):
    r = cli(reg.root, "sync", "--check", "--traceback")
    assert "No such option" not in r.err


PROJECT = Path(__file__).resolve().parents[3]


def _team_section() -> str:
    return (PROJECT / "docs" / "tutorials" / "team-mlflow.md").read_text()


def test_readme_team_recipe_is_the_scripts():
    """The production recipe (docs/tutorials/team-mlflow.md, run block by block by test_team_tutorial.py) and
    the steps scripts/team-stack performs are the same (the proxied mode and the webhook receivers on this
    machine's own addresses are the script's extras, not the recipe's)."""
    section, script = _team_section(), (PROJECT / "scripts" / "team-stack").read_text()
    pairs = {  # README text -> what the script has for it
        "--workers 1": '"--workers", "1"',
        "postgresql+psycopg2://": "postgresql+psycopg2://",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false": '"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"',
        "--no-serve-artifacts --default-artifact-root s3://": '"--no-serve-artifacts", "--default-artifact-root"',
        "CREATE ROLE mlflow LOGIN PASSWORD": "CREATE ROLE mlflow LOGIN PASSWORD",
        "CREATE DATABASE mlflow OWNER mlflow": "CREATE DATABASE mlflow OWNER mlflow",
    }
    for readme_text, script_text in pairs.items():
        assert readme_text in section, readme_text
        assert script_text in script, script_text
