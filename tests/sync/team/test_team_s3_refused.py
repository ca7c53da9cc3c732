"""Direct S3 access with keys the store refuses (not missing): mlreg says so, within 30 s, and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..sync_helpers import free_port, versions_of

pytestmark = pytest.mark.team


@contextmanager
def s3_checking_keys(folder: Path, bucket: str) -> Iterator[str]:
    """moto's S3 server with IAM authentication on (INITIAL_NO_AUTH_ACTION_COUNT=1: the one request that makes
    `bucket` goes through unchecked, every later one needs keys moto's IAM knows). Yields its endpoint."""
    import boto3

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="1")
    with open(folder / "moto-auth.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{url}/moto-api/"):  # poll until it serves (bounded)
            assert proc.poll() is None and time.monotonic() < deadline, (folder / "moto-auth.log").read_text()
        boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup"
        ).create_bucket(Bucket=bucket)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def test_refused_s3_keys_are_named_within_30_seconds(reg, training, team_direct, uniq, tmp_path):
    stack, name = team_direct, f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    with s3_checking_keys(tmp_path, stack.info["bucket"]) as endpoint:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env |= {
            "AWS_EC2_METADATA_DISABLED": "true",
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "AKIAREFUSEDREFUSED00",
            "AWS_SECRET_ACCESS_KEY": "not-a-key-it-knows",
        }
        start = time.monotonic()
        r = subprocess.run(
            [sys.executable, "-m", "mlreg", "sync", "--tracking-uri", stack.url],
            cwd=reg.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - start
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "S3 refused the credentials (InvalidAccessKeyId" in r.stderr and "unexpected" not in r.stderr, r.stderr
    assert "credentials missing" not in r.stderr
    assert took < 30, took
    assert versions_of(stack.client(), name) == {}
