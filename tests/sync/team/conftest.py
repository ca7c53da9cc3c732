"""The team stack (PostgreSQL + S3 + `mlflow server`) from `scripts/team-stack`, once per test session."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "team-stack"


@dataclass
class TeamStack:
    """A running stack: its tracking URI, and handles to break and mend its parts."""

    dir: Path
    direct: bool
    info: dict

    @property
    def url(self) -> str:
        return self.info["tracking_uri"]

    def script(self, *args: str) -> str:
        cmd = [sys.executable, str(SCRIPT), *args, "--dir", str(self.dir)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if r.returncode:
            pytest.fail(f"team-stack {' '.join(args)} failed:\n{r.stderr[-3000:]}")
        return r.stdout

    def up(self) -> None:
        """Start again whatever part is down (same ports and data)."""
        self.info = json.loads(
            self.script("up", "--json", "--webhook-cache-ttl", "1", *(["--direct"] if self.direct else []))
        )

    def stop(self, part: str, kill: bool = True) -> None:
        self.script("stop", part, *(["--kill"] if kill else []))

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.url, self.url)

    def s3(self):
        """A boto3 client on the stack's S3 (to check what the artifact store really holds)."""
        import boto3

        keys = self.info["server_env"]
        return boto3.client(
            "s3",
            endpoint_url=self.info["s3_endpoint"],
            region_name="us-east-1",
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )

    def objects(self, prefix: str = "") -> dict[str, int]:
        """key -> size of every object in the bucket under `prefix`."""
        out, token = {}, None
        while True:
            kw = {"Bucket": self.info["bucket"], "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = self.s3().list_objects_v2(**kw)
            out |= {o["Key"]: o["Size"] for o in page.get("Contents", [])}
            token = page.get("NextContinuationToken")
            if not token:
                return out

    @contextmanager
    def hung_s3(self) -> Iterator[None]:
        """S3 accepts connections but never answers (its process is stopped), then resumes."""
        pid = self.info["s3_pid"]
        os.killpg(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(pid, signal.SIGCONT)


def _start(tmp_path_factory, name: str, direct: bool) -> Iterator[TeamStack]:
    if not (shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))):
        pytest.skip("team tests need PostgreSQL's server binaries (initdb, pg_ctl)")
    stack = TeamStack(tmp_path_factory.mktemp(name), direct, {})
    try:
        stack.up()
        yield stack
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "down", "--dir", str(stack.dir)], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def team_stack(tmp_path_factory) -> Iterator[TeamStack]:
    """`scripts/team-stack up` (artifacts proxied by the server), `down` at the end of the session."""
    yield from _start(tmp_path_factory, "team-stack", False)


@pytest.fixture(scope="session")
def team_direct(tmp_path_factory) -> Iterator[TeamStack]:
    """`scripts/team-stack up --direct`: clients write artifacts to S3 themselves."""
    yield from _start(tmp_path_factory, "team-direct", True)


@pytest.fixture
def healthy_stack(team_stack) -> TeamStack:
    """The stack with every part running (a test before may have stopped one)."""
    team_stack.up()
    return team_stack


def pytest_collection_modifyitems(config, items):
    """Team tests last: their stack (three servers and their connections) then never runs beside other tests
    that bind ports of their own."""
    items.sort(key=lambda item: item.get_closest_marker("team") is not None)
