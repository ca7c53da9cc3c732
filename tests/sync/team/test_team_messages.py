"""What sync says, and how soon, when a part behind the team's MLflow server is down: its PostgreSQL (stopped under
a running server, behind a freshly restarted one, or before the server starts) and its artifact bucket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..sync_helpers import free_port, versions_of
from .conftest import TeamStack

pytestmark = pytest.mark.team

SOON = 10.0  # seconds from the command to its one-line error


def timed(cli, root: Path, *args: str):
    start = time.monotonic()
    r = cli(root, *args)
    return r, time.monotonic() - start


def one_line_error(r, stack: TeamStack) -> str:
    """The error, checked to be one line without a traceback or the database password."""
    assert r.code == 1 and r.err.count("\n") == 1 and "Traceback" not in r.err, r.err
    password = urlsplit(stack.info["backend_store_uri"]).password
    assert password and password not in r.out + r.err
    return r.err


def test_postgres_stopped_under_a_running_server_is_named_at_once(reg, training, healthy_stack, uniq, cli):
    """The server holds pooled connections; PostgreSQL stops (pg_ctl stop -m fast): the server answers 503 with
    psycopg2's words, and sync names the database from them instead of retrying."""
    stack, name = healthy_stack, f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    assert reg.sync(stack.url).ok  # the server's worker is connected
    reg.register(name, training(experiment=f"{uniq}-exp"))
    stack.stop("postgres", kill=False)
    try:
        for args in (["sync", "--check"], ["sync"]):
            r, took = timed(cli, reg.root, *args, "--tracking-uri", stack.url)
            err = one_line_error(r, stack)
            assert f"is up, but its database is failing (PostgreSQL at 127.0.0.1:{stack.info['postgres_port']}: " in err
            assert "Connection refused" in err and took < SOON, (took, err)
    finally:
        stack.up()
    assert sorted(versions_of(stack.client(), name)) == [1]
    assert reg.sync(stack.url).ok
    assert sorted(versions_of(stack.client(), name)) == [1, 2]


def test_postgres_down_behind_a_freshly_restarted_server_is_said_within_10_seconds(
    reg, training, healthy_stack, uniq, cli
):
    """A restarted server's worker reaches its database on its first request; with PostgreSQL down by then it
    retries for about 100 s on every request (and answers a bare 500 after that). Sync said 'no answer within
    5 s' after 29 s; now it says which part is silent, before its own requests wait that out."""
    stack, name = healthy_stack, f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    stack.stop("mlflow")
    stack.up()  # a fresh server (its database up at start): /health answers, no request has reached the database
    stack.stop("postgres", kill=False)
    try:
        for args in (["sync"], ["sync", "--check"]):
            r, took = timed(cli, reg.root, *args, "--tracking-uri", stack.url)
            err = one_line_error(r, stack)
            assert "is up, but the server's backend store (database) is not answering" in err, err
            assert "MLFLOW_BACKEND_STORE_URI" in err and "restart the server once the database is back" in err
            assert took < SOON, (took, err)
    finally:
        stack.up()  # PostgreSQL back; the server stays stuck in MLflow's retries (up to ~100 s) until restarted
        stack.stop("mlflow")
        stack.up()
    assert versions_of(stack.client(), name) == {}
    assert reg.sync(stack.url).ok
    assert sorted(versions_of(stack.client(), name)) == [1]


@contextmanager
def server_starting_without_its_database(stack: TeamStack, folder: Path) -> Iterator[str]:
    """A second `mlflow server` with the stack's settings, started while PostgreSQL is down: it retries the
    database (about 100 s) before it listens, then exits. Yields its URL once its log shows the retries."""
    port, log = free_port(), folder / "starting.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    cmd += ["--artifacts-destination", f"s3://{stack.info['bucket']}/mlflow"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))} | stack.info["server_env"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "SQLAlchemy engine could not be created" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.2)  # polling the log for a condition (bounded), not ordering two actions
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_server_started_while_postgres_is_down_says_where_to_look(reg, training, healthy_stack, uniq, cli, tmp_path):
    stack = healthy_stack
    reg.register(f"{uniq}-m", training(experiment=f"{uniq}-exp"))
    stack.stop("postgres", kill=False)
    try:
        with server_starting_without_its_database(stack, tmp_path) as url:
            r, took = timed(cli, reg.root, "sync", "--check", "--tracking-uri", url)
    finally:
        stack.up()
    err = one_line_error(r, stack)
    assert f"cannot reach MLflow at {url}" in err and "Connection refused" in err
    assert "a server whose database is down when it starts retries for about 100 s, then exits" in err
    assert took < SOON, took


def drop_bucket(stack: TeamStack) -> None:
    """The server's artifact bucket is gone (objects first: S3 deletes only empty buckets)."""
    s3, bucket = stack.s3(), stack.info["bucket"]
    for key in stack.objects():
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


def test_missing_artifact_bucket_is_named_not_connection_aborted(reg, training, healthy_stack, uniq, cli):
    """The proxied upload fails with a bare 500 (NoSuchBucket is only in the server's log); the server's own
    listing of the store says it, and sync passes that on with what to do."""
    stack, name = healthy_stack, f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    drop_bucket(stack)
    try:
        r, took = timed(cli, reg.root, "sync", "--tracking-uri", stack.url)
    finally:
        stack.up()  # the bucket again (empty)
    err = one_line_error(r, stack)
    assert "is up, but its artifact store is failing" in err and "Connection aborted" not in err, err
    assert f"s3://{stack.info['bucket']}/mlflow: The specified bucket does not exist" in err
    assert "create that bucket (MLflow does not create buckets)" in err and "--artifacts-destination" in err
    assert took < 30, took
    assert versions_of(stack.client(), name) == {}  # no version on an unfinished run
    assert reg.sync(stack.url).ok
    assert sorted(versions_of(stack.client(), name)) == [1]


def test_missing_bucket_with_direct_access_is_named(reg, training, team_direct, uniq, cli, monkeypatch):
    stack, name = team_direct, f"{uniq}-m"
    stack.up()
    for k, v in stack.info["env"].items():
        monkeypatch.setenv(k, v)
    reg.register(name, training(experiment=f"{uniq}-exp"))
    drop_bucket(stack)
    try:
        r = cli(reg.root, "sync", "--tracking-uri", stack.url)
    finally:
        stack.up()
    err = one_line_error(r, stack)
    assert f"the S3 artifact store has no bucket {stack.info['bucket']} (NoSuchBucket" in err, err
    assert "create it (MLflow does not create buckets)" in err
    assert versions_of(stack.client(), name) == {}
    assert reg.sync(stack.url).ok
