"""Webhooks survive a restart of the team server: team-stack starts it with a fixed
MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY (kept in its state like the database password), so the server reads the
webhooks it made before the restart and `sync --check` passes."""

from __future__ import annotations

import pytest

from ..sync_helpers import free_port

pytestmark = pytest.mark.team


def test_webhooks_survive_a_server_restart(healthy_stack, reg, training, cli):
    reg.register("m", training(experiment="team-webhooks"))
    c = healthy_stack.client()
    hook = c.create_webhook(
        f"deploy-{free_port()}",
        f"http://127.0.0.1:{free_port()}/hook",
        events=["model_version_alias.created"],
        secret="s3cret",
    )
    try:
        key = healthy_stack.info["server_env"]["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"]
        healthy_stack.stop("mlflow")
        healthy_stack.up()

        assert healthy_stack.info["server_env"]["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] == key
        assert hook.webhook_id in [w.webhook_id for w in healthy_stack.client().list_webhooks()]
        assert cli(reg.root, "sync", "--tracking-uri", healthy_stack.url).code == 0
        r = cli(reg.root, "sync", "--check", "--tracking-uri", healthy_stack.url)
        assert r.code == 0, r.out + r.err
    finally:
        healthy_stack.client().delete_webhook(hook.webhook_id)


def test_up_prints_every_variable_clients_need(healthy_stack):
    out = healthy_stack.script("up", "--webhook-cache-ttl", "1")
    exported = dict(line[len("export ") :].split("=", 1) for line in out.splitlines() if line.startswith("export "))
    assert set(exported) >= {
        "MLFLOW_TRACKING_URI",
        "AWS_ENDPOINT_URL",
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }
    assert exported["AWS_ENDPOINT_URL"] == healthy_stack.info["s3_endpoint"]
    assert "MLFLOW_BACKEND_STORE_URI" not in exported  # the server's, with the database password
    from pathlib import Path

    ps = Path(f"/proc/{healthy_stack.info['mlflow_pid']}/cmdline").read_bytes().decode()
    assert healthy_stack.info["backend_store_uri"] not in ps  # never on the command line (visible in `ps`)
