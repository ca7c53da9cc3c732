"""`sync --check` sees what MLflow's records alone do not: webhooks the server can no longer read after a restart
with another encryption key, and (with --artifacts) store objects of store-backed versions that are gone."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from .conftest import start_server, stop_server
from .sync_helpers import free_port
from storekit import set_store

RECEIVER = {"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}

pytestmark = [pytest.mark.server, pytest.mark.filterwarnings("ignore::UserWarning")]


def test_check_reports_webhooks_a_restarted_server_cannot_read(reg, training, tmp_path, cli):
    reg.register("m", training(experiment="exp"))
    port, first = free_port(), Fernet.generate_key().decode()
    server = start_server(tmp_path, port, RECEIVER | {"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": first})
    try:
        server.client().create_webhook(
            "deploy", f"http://127.0.0.1:{free_port()}/hook", events=["model_version_alias.created"], secret="s3cret"
        )
        assert cli(reg.root, "sync", "--tracking-uri", server.url).code == 0
        assert cli(reg.root, "sync", "--check", "--tracking-uri", server.url).code == 0
    finally:
        stop_server(server.proc)
    # restarted without the key it was started with (MLflow then makes a random one): no webhook can be read
    other = Fernet.generate_key().decode()
    server = start_server(tmp_path, port, RECEIVER | {"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": other})
    try:
        r = cli(reg.root, "sync", "--check", "--tracking-uri", server.url, "--json")
        assert r.code == 1
        (broken,) = [i for i in r.json()["changes"] if i["status"] == "broken"]
        assert broken["kind"] == "webhook" and "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY" in broken["detail"]
        assert "HTTP 500" in broken["detail"]
    finally:
        stop_server(server.proc)
    server = start_server(
        tmp_path, port, RECEIVER | {"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": first}
    )  # the fixed key again
    try:
        assert cli(reg.root, "sync", "--check", "--tracking-uri", server.url).code == 0
        assert [w.name for w in server.client().list_webhooks()] == ["deploy"]
    finally:
        stop_server(server.proc)


def test_check_artifacts_fails_when_store_objects_are_gone(reg, pyfunc_training, store, mlflow_server, uniq, cli):
    set_store(reg.root, store.uri)
    reg._settings = None
    for factor in (2, 3):
        reg.register(uniq, pyfunc_training(factor, f"{uniq}-exp"))
    assert reg.sync(mlflow_server.url).ok
    assert reg.sync(mlflow_server.url, check=True, artifacts=True).ok
    lost = [a for a in reg.get(uniq, "2").record.artifacts]
    for a in lost:
        store.delete(a.uri)

    r = cli(reg.root, "sync", "--check", "--artifacts", "--tracking-uri", mlflow_server.url, "--json")

    assert r.code == 1
    broken = [i for i in r.json()["changes"] if i["status"] == "broken"]
    assert sorted(i["name"] for i in broken) == sorted(f"{uniq}/2:{a.path}" for a in lost)
    assert all("no object there" in i["detail"] for i in broken)
    assert cli(reg.root, "sync", "--check", "--tracking-uri", mlflow_server.url).code == 0  # records are intact
