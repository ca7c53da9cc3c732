"""`mlreg ui`: MLflow's UI over the local store, served by a quiet `mlflow server` child on 127.0.0.1."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..errors import MlregError
from ..extras import require
from .uri import local_store

HOST = "127.0.0.1"
START_TIMEOUT = 120.0  # seconds for the server to answer /health
_QUIET_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "PYTHONWARNINGS": "ignore",
}


class _Stop(Exception):
    """SIGINT / SIGTERM / SIGHUP to mlreg: stop the server, then exit."""


def ui_command(root: Path, port: int) -> list[str]:
    """The `mlflow server` command serving MLflow's UI over the embedded store on 127.0.0.1."""
    require("mlflow", "`mlreg ui`")
    target = local_store(root)
    db = target.sqlite_path
    assert db is not None and target.artifacts is not None  # the embedded store is sqlite
    if not db.exists():
        raise MlregError(f"{db}: no local MLflow store yet; run `mlreg sync` first")
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        target.uri,
        "--registry-store-uri",
        target.uri,
        "--default-artifact-root",
        target.artifacts.resolve().as_uri(),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--uvicorn-opts",
        "--log-level warning --no-access-log",
    ]


def check_port(port: int) -> None:
    """Fail unless a server could listen on 127.0.0.1:port now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closing socket is no owner
        try:
            s.bind((HOST, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise MlregError(f"port {port} on {HOST} is in use; pick another with --port") from None
            raise MlregError(
                f"port {port} on {HOST}: cannot listen there ({e.strerror}); pick another with --port"
            ) from None


def serve_ui(root: Path, port: int, ready: Callable[[str], None]) -> None:
    """Run MLflow's UI until Ctrl-C (or SIGTERM): `ready(url)` once it answers. A server that dies is an error."""
    cmd = ui_command(root, port)
    check_port(port)
    url = f"http://{HOST}:{port}"
    with tempfile.TemporaryFile() as log:  # the server's own output: shown only if it fails
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **_QUIET_ENV},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # SIGINT too: a shell without job control starts background commands with SIGINT ignored, and Python
        # keeps that; `kill -INT` (or Ctrl-C once in the foreground) must still stop the server
        saved = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            _await_start(proc, url, log)
            ready(url)
            code = proc.wait()
            raise MlregError(f"MLflow's server stopped (exit code {code}){_tail(log)}")
        except (KeyboardInterrupt, _Stop):
            return
        finally:
            _stop(proc)
            for sig, handler in saved.items():
                signal.signal(sig, handler)


def _await_start(proc: subprocess.Popen, url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(url):
        if proc.poll() is not None:
            raise MlregError(f"MLflow's server did not start (exit code {proc.returncode}){_tail(log)}")
        if time.monotonic() > deadline:
            raise MlregError(f"MLflow's server did not answer on {url} within {START_TIMEOUT:.0f}s{_tail(log)}")
        time.sleep(0.2)  # polling a server's start-up


def healthy(url: str) -> bool:
    """Whether an MLflow server answers its /health endpoint."""
    import urllib.request  # here, not at the top: `sync --check` imports this module and needs no HTTP client

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _tail(log: IO[bytes]) -> str:
    """What the server said last: its final exception line if it printed one, else its last line."""
    log.seek(0)
    lines = [ln.strip() for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:", ln)]
    last = (errors or lines or [""])[-1]
    return f": {last[:300]}" if last else ""


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group (mlflow and its uvicorn): SIGTERM, then SIGKILL after 15 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()
