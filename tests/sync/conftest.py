"""A real `mlflow server` (started once per session), HTTP call counting, unique names per test."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlreg.sync.ui import healthy

from .sync_helpers import free_port


@dataclass
class Server:
    """A running tracking server: its URL and folder."""

    url: str
    folder: Path
    proc: subprocess.Popen

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.url, self.url)


def start_server(folder: Path, port: int | None = None, env: dict[str, str] | None = None) -> Server:
    """`mlflow server` on 127.0.0.1 (sqlite backend, artifacts in `folder`), healthy when returned; `env` adds to
    its environment (MLflow's own variables of this process are left out)."""
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    full = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    full |= {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    with open(folder / "server.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
        time.sleep(0.2)  # polling a server's start-up, not ordering test events
    return Server(url, folder, proc)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Server:
    """`mlflow server` on 127.0.0.1 (free port, sqlite backend, temp artifact folder), stopped at session end."""
    server = start_server(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    stop_server(server.proc)


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def uniq(request) -> str:
    """A short name unique to this test, for models and experiments on the shared server."""
    return "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]


@dataclass
class HttpLog:
    """Every HTTP request this process sent: (method, path)."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def clear(self) -> None:
        self.calls.clear()

    @property
    def writes(self) -> list[tuple[str, str]]:
        """Requests that change state (anything but search/get/list), but for taking and dropping the sync's
        lease (the first create of a registered model and the last delete of one, when both are there)."""
        found = [c for c in self.calls if not any(w in c[1] for w in ("/search", "/get", "/list"))]
        if (
            len(found) >= 2
            and found[0][1].endswith("registered-models/create")
            and found[-1][1].endswith("registered-models/delete")
        ):
            found = found[1:-1]
        return found


@pytest.fixture
def http_log(monkeypatch) -> HttpLog:
    """Counts MLflow's client's requests (requests) and the light path's (urllib: mlreg/sync/light_rest.py)."""
    import urllib.request

    import requests

    log = HttpLog()
    real = requests.Session.request
    real_open = urllib.request.OpenerDirector.open

    def counted(self, method, url, *args, **kwargs):
        log.calls.append((method, url.split("/", 3)[-1]))
        return real(self, method, url, *args, **kwargs)

    def opened(self, request, *args, **kwargs):
        if isinstance(request, urllib.request.Request):
            log.calls.append((request.get_method(), request.full_url.split("?", 1)[0].split("/", 3)[-1]))
        return real_open(self, request, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", counted)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", opened)
    return log


@pytest.fixture
def pyfunc_training(tmp_path):
    """A training output folder holding a real MLflow pyfunc model (predicts factor * x) under model/."""
    import json
    import warnings

    import mlflow.pyfunc

    def make(factor: float, experiment: str, name: str = "scaler") -> Path:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow suggests type hints for predict()

            class Scaler(mlflow.pyfunc.PythonModel):  # defined here so cloudpickle stores it by value
                def __init__(self, factor):
                    self.factor = factor

                def predict(self, context, model_input, params=None):
                    return [self.factor * x for x in model_input["x"]]

            out = tmp_path / f"{name}_{factor:g}"
            mlflow.pyfunc.save_model(str(out / "model"), python_model=Scaler(factor), pip_requirements=["mlflow"])
        meta = {
            "run_name": f"{name}_{factor:g}",
            "experiment": experiment,
            "model_type": "pyfunc",
            "metrics": {"rmse_val": round(1 / factor, 4)},
            "params": {"factor": factor},
        }
        (out / "run_metadata.json").write_text(json.dumps(meta))
        return out

    return make
