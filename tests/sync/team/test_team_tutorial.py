"""docs/tutorials/team-mlflow.md works as written: its shell blocks run in order in one bash, against a fresh
PostgreSQL (its own binaries; as root run as `nobody`, which initdb requires) and moto's S3 server standing in
for the team's, then sync a registry."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from ..sync_helpers import free_port

pytestmark = pytest.mark.team
ROOT = Path(__file__).resolve().parents[3]
TUTORIAL = ROOT / "docs" / "tutorials" / "team-mlflow.md"
KEYS = {"AWS_ACCESS_KEY_ID": "tutorial-key", "AWS_SECRET_ACCESS_KEY": "tutorial-secret"}


def _bin(name: str) -> str | None:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    return str(found) if found else None


def _as_nobody() -> dict:
    return {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}


def blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), re.DOTALL)


@pytest.fixture
def postgres():
    """A fresh PostgreSQL on a free port, its administrator `postgres` trusted on 127.0.0.1 (a test box)."""
    if not (_bin("initdb") and _bin("pg_ctl")):
        pytest.skip("needs PostgreSQL's server binaries (initdb, pg_ctl)")
    home, user, port = Path(tempfile.mkdtemp(prefix="mlreg-pgtut-")), _as_nobody(), free_port()
    if user:
        os.chown(home, user["user"], user["group"])
    data = home / "data"
    subprocess.run(
        [_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        **user,
    )
    subprocess.run(
        [
            _bin("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(home / "log"),
            "-o",
            f"-p {port} -k {home} -h 127.0.0.1",
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
        **user,
    )
    try:
        yield port
    finally:
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, check=False, **user
        )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def moto(tmp_path):
    port = free_port()
    with open(tmp_path / "moto.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while True:  # poll until it serves (bounded)
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "moto.log").read_text()
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _bash(script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_the_team_tutorial_runs_as_written(postgres, moto, reg, training, tmp_path):
    reg.register("m", training(experiment="tutorial"))
    work = tmp_path / "server"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_", "PG"))}
    env |= KEYS | {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres),
        "AWS_ENDPOINT_URL": moto,
        "MLFLOW_PORT": str(free_port()),
        "PYTHONPATH": str(ROOT),
        "PATH": f"{Path(sys.executable).parent}:{Path(_bin('initdb')).parent}:{env['PATH']}",
    }
    *steps, stop = blocks()
    sync_step = next(i for i, b in enumerate(steps) if "mlreg sync" in b)
    try:
        done = _bash("\n".join(steps[:sync_step]) + f"\ncd {reg.root}\n" + steps[sync_step], work, env)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:] + (work / "mlflow-server.log").read_text()[
            -3000:
        ]

        secrets = dict(line.split("=", 1) for line in (work / "mlflow-secrets.env").read_text().split())
        assert (work / "mlflow-secrets.env").stat().st_mode & 0o077 == 0
        pid = int((work / "mlflow-server.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert secrets["MLFLOW_DB_PASSWORD"] not in cmdline and "--backend-store-uri" not in cmdline
        assert "MLflow matches git" in done.stdout
        url = f"http://127.0.0.1:{env['MLFLOW_PORT']}"
        assert [v.version for v in _client(url).search_model_versions("name = 'm'")] == ["1"]

    finally:
        stopped = _bash(stop, work, env) if (work / "mlflow-server.pid").exists() else None
        if stopped is not None and stopped.returncode:
            os.killpg(int((work / "mlflow-server.pid").read_text()), signal.SIGKILL)


def _client(url: str):
    from mlflow import MlflowClient

    return MlflowClient(url, url)
