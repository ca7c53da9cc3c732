"""`sync --check` without importing MLflow: the light path (sqlite read directly, or the REST API with urllib) gives
the very answers MLflow's client gives, on the same stores, in sync and drifted in each way; it steps aside for
MLflow's client whenever it cannot answer as MLflow would; and a check of an in-sync store never imports MLflow."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from mlreg.sync import light, local_store

from .conftest import start_server, stop_server
from .sync_helpers import answers, free_port, git, versions_of

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def client_of(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def changes(doc: dict) -> set[tuple[str, str, str]]:
    return {(c["kind"], c["name"], c["status"]) for c in doc["changes"]}


@dataclass
class Where:
    """A store to sync to: its URI for reg.sync (None: embedded), a model name unique on it, where runs' files are."""

    uri: str | None
    name: str
    files: Path | None = None  # a server's --artifacts-destination (None: runs' own file:// locations)

    def client(self, reg):
        return client_of(self.uri or local_store(reg.root).uri)

    def run_folder(self, reg, run_id: str) -> Path:
        location = self.client(reg).get_run(run_id).info.artifact_uri
        if self.files is None:
            return Path(unquote(urlparse(location).path))
        return self.files / location.removeprefix("mlflow-artifacts:/").lstrip("/")


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def where(request, uniq) -> Where:
    """The embedded store, or the session's `mlflow server`."""
    if request.param == "server":
        server = request.getfixturevalue("mlflow_server")
        return Where(server.url, f"{uniq}-m", server.folder / "artifacts")
    return Where(None, "m")


def test_light_and_mlflow_answers_are_the_same_in_sync_and_drifted(reg, training, where, monkeypatch):
    uri, name = where.uri, where.name
    for i in range(3):
        reg.register(
            name, training(experiment=f"{name}-exp", metrics={"rmse_val": 0.07 - i / 100}), tags={"owner": "a"}
        )
    reg.promote(name, "2", "beta", "ok")
    reg.promote(name, "2", "champion", "best")
    assert reg.sync(uri).ok
    c = where.client(reg)
    assert answers(reg, uri, monkeypatch)["ok"]
    assert answers(reg, uri, monkeypatch, artifacts=True)["ok"]

    reg.promote(name, "3", "beta", "better")  # a stage, tags and an alias change in git
    reg.tag_set(name, "1", "owner", "b")
    reg.alias_set(name, "stable", "1")
    reg.register(name, training(experiment=f"{name}-exp"))  # a version MLflow lacks
    git(reg.root, "rm", "-rq", f"registry/{name}/v2")  # a version git no longer has
    git(reg.root, "commit", "-qm", "drop v2")
    doc = answers(reg, uri, monkeypatch)
    assert not doc["ok"] and {
        ("version", f"{name}/1", "update"),
        ("version", f"{name}/3", "update"),
        ("version", f"{name}/4", "create"),
        ("run", f"{name}/4", "create"),
        ("version", f"{name}/2", "extra"),
        ("alias", f"{name}@stable", "create"),
    } <= changes(doc)

    mv = versions_of(c, name)  # edits by hand in MLflow: a tag, an alias, a metric (NaN), a foreign tag
    c.set_model_version_tag(name, "3", "stage", "production")
    c.set_model_version_tag(name, "3", "reviewed", "yes")
    c.set_registered_model_alias(name, "champion", "1")
    c.log_metric(mv[3].run_id, "rmse_val", float("nan"), timestamp=4_000_000_000_000)
    doc = answers(reg, uri, monkeypatch)
    assert {("alias", f"{name}@champion", "conflict"), ("run", f"{name}/3", "conflict")} <= changes(doc)
    assert ("version", f"{name}/3", "foreign") in changes(doc)

    assert not answers(reg, uri, monkeypatch, artifacts=True)["ok"]  # the artifact store listed too


def test_artifact_store_losses_are_seen_alike(reg, training, where, monkeypatch):
    uri, name = where.uri, where.name
    reg.register(name, training(experiment=f"{name}-exp", files={"model.txt": "m1", "extra/notes.md": "n"}))
    reg.register(name, training(experiment=f"{name}-exp"))
    assert reg.sync(uri).ok
    assert answers(reg, uri, monkeypatch, artifacts=True)["ok"]
    run_id = versions_of(where.client(reg), name)[1].run_id
    (where.run_folder(reg, run_id) / "extra" / "notes.md").unlink()

    doc = answers(reg, uri, monkeypatch, artifacts=True)
    (lost,) = doc["changes"]
    assert (lost["kind"], lost["name"], lost["status"]) == ("run", f"{name}/1", "update")
    assert "artifact store lacks extra/notes.md" in lost["detail"]
    assert answers(reg, uri, monkeypatch)["ok"]  # without --artifacts nothing is listed


def test_store_objects_that_are_gone_are_seen_alike(reg, pyfunc_training, monkeypatch, tmp_path):
    from storekit import set_store

    (tmp_path / "store").mkdir()
    set_store(reg.root, (tmp_path / "store").as_uri())
    reg._settings = None
    reg.register("m", pyfunc_training(2, "m-exp"))
    assert reg.sync().ok
    assert answers(reg, None, monkeypatch, artifacts=True)["ok"]
    for a in reg.get("m", "1").record.artifacts:
        os.unlink(unquote(urlparse(a.uri).path))

    doc = answers(reg, None, monkeypatch, artifacts=True)
    assert not doc["ok"] and {c["status"] for c in doc["changes"]} == {"broken"}
    assert answers(reg, None, monkeypatch)["ok"]


def test_a_schema_revision_not_verified_is_left_to_mlflow(reg, training):
    from mlreg.sync.light_sql import VERIFIED

    reg.register("m", training())
    assert reg.sync().ok
    with sqlite3.connect(reg.root / ".mlreg" / "mlflow.db") as con:
        (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision in VERIFIED
        con.execute("UPDATE alembic_version SET version_num = 'abcdef012345'")

    light_on, light_off = _run_cli(reg.root, "sync", "--check"), _run_cli(reg.root, "sync", "--check", switch="0")

    assert light_on.returncode == light_off.returncode == 1 and light_on.stderr == light_off.stderr
    assert "out-of-date database schema" in light_on.stderr and len(light_on.stderr.splitlines()) == 1
    assert light_on.stdout == light_off.stdout == "mlflow imported: True\n"  # MLflow's client answered


@pytest.mark.server
def test_a_server_that_cannot_read_its_webhooks_is_reported_alike(reg, training, tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    reg.register("m", training(experiment="exp"))
    port = free_port()
    allow = {"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}
    key = {"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    server = start_server(tmp_path, port, allow | key)
    try:
        server.client().create_webhook(
            "deploy", f"http://127.0.0.1:{free_port()}/hook", events=["model_version_alias.created"], secret="s"
        )
        assert reg.sync(server.url).ok and answers(reg, server.url, monkeypatch)["ok"]
    finally:
        stop_server(server.proc)
    server = start_server(
        tmp_path, port, allow | {"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    )
    try:
        fast = reg.sync(server.url, check=True).to_dict()  # the light path steps aside: MLflow's client words it
        monkeypatch.setenv(light.ENV, "0")
        assert reg.sync(server.url, check=True).to_dict() == fast
        assert [c["kind"] for c in fast["changes"] if c["status"] == "broken"] == ["webhook"]
    finally:
        stop_server(server.proc)


def _run_cli(root, *args: str, importtime: bool = False, switch: str | None = None) -> subprocess.CompletedProcess:
    """`mlreg ARGS` in a fresh Python; prints whether mlflow was imported after it (last line of stdout)."""
    code = (
        "import sys\nfrom mlreg.cli import main\ncode = main(sys.argv[1:])\n"
        "print('mlflow imported:', 'mlflow' in sys.modules)\nsys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != light.ENV}
    if switch is not None:  # MLREG_SYNC_LIGHT
        env[light.ENV] = switch
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code, *args]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_check_and_a_no_op_sync_of_the_embedded_store_never_import_mlflow(reg, training):
    reg.register("m", training(), tags={"owner": "ana"})
    reg.promote("m", "1", "beta", "ok")
    assert reg.sync().ok

    done = _run_cli(reg.root, "sync", "--check", importtime=True)
    assert done.returncode == 0, done.stderr
    assert "MLflow matches git" in done.stdout and done.stdout.endswith("mlflow imported: False\n")
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    assert "mlreg.sync.light_sql" in imported and not {m for m in imported if m.split(".")[0] == "mlflow"}

    done = _run_cli(reg.root, "sync")
    assert done.returncode == 0 and done.stdout.endswith("mlflow imported: False\n"), done.stderr

    reg.promote("m", "1", "champion", "best")  # something to write: MLflow's client writes it
    done = _run_cli(reg.root, "sync")
    assert done.returncode == 0 and done.stdout.endswith("mlflow imported: True\n"), done.stderr
    done = _run_cli(reg.root, "sync", "--check")
    assert done.returncode == 0 and done.stdout.endswith("mlflow imported: False\n"), done.stderr
