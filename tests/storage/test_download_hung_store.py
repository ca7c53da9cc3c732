"""A hung S3 (it accepts connections and never answers: the moto server's process SIGSTOPped) makes `register` and
`get` fail within 30 s with one line naming the endpoint, not wait botocore's three minutes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import git
from storekit import S3_VARS, free_port, set_store

# its own moto server process, and each test waits out the store's timeouts (~16 s) by design
pytestmark = [pytest.mark.s3, pytest.mark.slow]

HERE = Path(__file__).resolve().parent.parent.parent
BOUND = 30.0  # seconds the user may wait for a hung store's error
ON_MAIN = 120.0  # how long the test waits before calling it a hang (botocore's defaults took ~180 s)


@pytest.fixture
def own_s3(tmp_path):
    """moto's server in a process of its own (so it can be stopped without stopping the test), one bucket."""
    import boto3
    import requests

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to ~30 s for the server to start on a loaded machine
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        bucket = f"mlreg-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket)
        yield proc, env, f"s3://{bucket}/models"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=30)


def timed_mlreg(cwd: Path, env: dict, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    full = {k: v for k, v in os.environ.items() if k not in S3_VARS} | env
    full["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mlreg", *args],
            cwd=cwd,
            env=full,
            capture_output=True,
            text=True,
            timeout=ON_MAIN,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"mlreg {' '.join(args)} still waiting on the hung store after {ON_MAIN:.0f} s")
    return time.monotonic() - start, done


def stopped(proc: subprocess.Popen):
    """The store's process stopped for the duration of a with-block, resumed after it whatever happens."""
    import contextlib

    @contextlib.contextmanager
    def cm():
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(proc.pid, signal.SIGCONT)

    return cm()


def assert_one_clear_line(done: subprocess.CompletedProcess, took: float, endpoint: str, action: str) -> None:
    assert done.returncode == 1, done.stderr[-800:]
    assert took < BOUND, f"took {took:.1f} s"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-800:]
    assert lines[0].startswith(f"Error: the object store at {endpoint} did not answer within ")
    assert f"to {action} s3://" in lines[0]
    assert "testing" not in lines[0]  # the secret key is never printed


def test_register_against_a_hung_store_fails_within_30_s(reg, training, own_s3):
    proc, env, store = own_s3
    set_store(reg.root, store)
    head = git(reg.root, "rev-parse", "HEAD")
    folder = training()
    with stopped(proc):
        took, done = timed_mlreg(reg.root, env, "register", "m", "--from-dir", str(folder))
    assert_one_clear_line(done, took, env["AWS_ENDPOINT_URL"], "upload")
    assert git(reg.root, "rev-parse", "HEAD") == head  # nothing committed
    assert not (reg.root / "registry/m/v1").exists()


def test_get_from_a_hung_store_fails_within_30_s(reg, training, own_s3, tmp_path):
    proc, env, store = own_s3
    set_store(reg.root, store)
    took, done = timed_mlreg(reg.root, env, "register", "m", "--from-dir", str(training()))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    with stopped(proc):
        took, done = timed_mlreg(tmp_path, env, "get", str(reg.root), "m@1", "-o", str(out))
    assert_one_clear_line(done, took, env["AWS_ENDPOINT_URL"], "download")
    assert not (out / "model.txt").exists()
    took, done = timed_mlreg(tmp_path, env, "get", str(reg.root), "m@1", "-o", str(out))  # resumed: it works
    assert done.returncode == 0, done.stderr
    assert (out / "model.txt").read_text() == "tree model 1\n"
