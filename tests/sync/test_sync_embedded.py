"""mlreg sync with no server: the embedded store under .mlreg/ (sqlite + artifact folder), and mlreg ui."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request

from mlreg.sync import local_store

from .sync_helpers import aliases_of, free_port, git, versions_of


def client_for(root):
    from mlflow import MlflowClient

    uri = local_store(root).uri
    return MlflowClient(uri, uri)


def test_sync_into_the_local_store_then_nothing_to_do(reg, pyfunc_training, cli, monkeypatch, tmp_path):
    for factor in (2, 3):
        reg.register("scaler", pyfunc_training(factor, "scaler-exp"))
    reg.promote("scaler", "2", "beta", "ok")
    reg.promote("scaler", "2", "champion", "best")
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)

    r = cli(reg.root, "sync")

    assert r.code == 0, r.err
    assert f"sqlite:///{reg.root}/.mlreg/mlflow.db (embedded)" in r.out and "model versions" in r.out
    assert git(reg.root, "status", "--porcelain") == ""  # .mlreg/ is git-ignored by `mlreg init`
    assert list(work.iterdir()) == [] and not (reg.root / "mlruns").exists()
    c = client_for(reg.root)
    mv = versions_of(c, "scaler")
    assert sorted(mv) == [1, 2] and mv[2].tags["stage"] == "champion"
    assert aliases_of(c, "scaler") == {"champion": 2}
    artifacts = reg.root / ".mlreg" / "artifacts" / "scaler-exp"
    assert len(list(artifacts.glob("*/artifacts/model/MLmodel"))) == 2

    import mlflow.pyfunc
    import pandas as pd

    monkeypatch.setenv("MLFLOW_TRACKING_URI", local_store(reg.root).uri)
    model = mlflow.pyfunc.load_model("models:/scaler@champion")
    assert list(model.predict(pd.DataFrame({"x": [1.0]}))) == [3.0]
    monkeypatch.delenv("MLFLOW_TRACKING_URI")

    again = reg.sync()
    assert again.ok and again.writes == 0 and again.totals()["unchanged"] == len(again.items)
    r = cli(reg.root, "sync", "--check")
    assert r.code == 0 and "MLflow matches git" in r.out


def test_check_reports_missing_objects_and_json_summary(reg, training, cli):
    reg.register("lgbm", training())
    r = cli(reg.root, "sync", "--check", "--json")
    assert r.code == 1
    doc = r.json()
    assert doc["mode"] == "check" and doc["ok"] is False and doc["uri_source"] == "embedded"
    assert doc["totals"]["created"] == 3  # model, run, version: missing in MLflow
    assert {(c["kind"], c["name"]) for c in doc["changes"]} == {
        ("model", "lgbm"),
        ("run", "lgbm/1"),
        ("version", "lgbm/1"),
    }
    assert not (reg.root / ".mlreg").exists()  # a check never creates the store it compares with


def test_tracking_uri_from_mlreg_yaml(reg, training, tmp_path, monkeypatch):
    other = tmp_path / "team" / "team.db"
    other.parent.mkdir()
    text = (reg.root / "mlreg.yaml").read_text() + f"mlflow:\n  tracking_uri: sqlite:///{other}\n"
    (reg.root / "mlreg.yaml").write_text(text)
    reg.register("lgbm", training(), commit=False)
    monkeypatch.chdir(tmp_path)
    report = reg.sync()
    assert report.ok and report.uri_source == "mlreg.yaml" and other.exists()
    assert not (reg.root / ".mlreg" / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert len(list((other.parent / "artifacts").glob("*/*/artifacts/model.txt"))) == 1


def test_ui_needs_a_local_store(reg, cli):
    r = cli(reg.root, "ui")
    assert r.code == 1 and "run `mlreg sync` first" in r.err


def test_ui_serves_mlflow_over_the_local_store_quietly(reg, training, cli):
    reg.register("lgbm", training())
    assert reg.sync().ok
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # started as a shell without job control starts a background command: SIGINT ignored (Python keeps that);
    # Ctrl-C (SIGINT) must stop it all the same
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlreg", "-C", str(reg.root), "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout.readline().decode().startswith(f"MLflow UI on http://127.0.0.1:{port} ")  # once it answers
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/registered-models/get?name=lgbm"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = answer.read().decode()
        assert '"name": "lgbm"' in body.replace('":"', '": "')
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C to mlreg alone: it stops the server it started
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    out, err = proc.communicate()
    assert code == 0 and out == b"" and err == b""  # none of MLflow's or uvicorn's logs, warnings, tracebacks
    assert_nothing_listens(port)  # the server is gone: its port is free again


def assert_nothing_listens(port: int) -> None:
    """No server owns 127.0.0.1:port: a connection is refused and a listener may bind there again.

    The server closed its side of our HTTP connections first, so those sit in TIME_WAIT on `port` for a
    minute; a plain bind() then fails with EADDRINUSE although nothing listens (the old flake). A server
    binds with SO_REUSEADDR (uvicorn does, and so does `mlreg ui`'s own port check), which ignores TIME_WAIT
    but still fails while a socket listens: check exactly that.
    """
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_ui_refuses_a_port_in_use(reg, training, cli):
    reg.register("lgbm", training())
    assert reg.sync().ok
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        r = cli(reg.root, "ui", "--port", str(port))

    assert r.code == 1 and r.out == ""
    assert r.err == f"Error: port {port} on 127.0.0.1 is in use; pick another with --port\n"


def test_ui_fails_when_the_server_dies_at_start_up(reg, training, cli):
    reg.register("lgbm", training())
    assert reg.sync().ok
    (reg.root / ".mlreg" / "mlflow.db").write_text("not a database\n")

    r = cli(reg.root, "ui", "--port", str(free_port()))

    assert r.code == 1 and r.out == ""
    assert r.err.startswith("Error: MLflow's server did not start (exit code ") and "not a database" in r.err
    assert len(r.err.splitlines()) == 1


def test_example_registry_syncs_cleanly_into_a_fresh_local_store(repo_dir, cli):
    import shutil
    from pathlib import Path

    project = Path(__file__).resolve().parents[2]
    shutil.copytree(project / "registry", repo_dir / "registry")
    shutil.copy(project / "mlreg.yaml", repo_dir / "mlreg.yaml")
    (repo_dir / ".gitignore").write_text(".mlreg/\n")
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-qm", "example registry")

    first = cli(repo_dir, "sync", "--json")
    assert first.code == 0, first.err
    assert first.json()["totals"]["created"] > 0 and first.json()["totals"]["conflicts"] == 0
    r = cli(repo_dir, "sync", "--check")
    assert r.code == 0 and "MLflow matches git" in r.out
    c = client_for(repo_dir)
    models = {p.name for p in (repo_dir / "registry").iterdir() if p.is_dir()}
    assert {m.name for m in c.search_registered_models()} == models
