"""Sync uploads only files it can prove are the record's bytes: never what a record merely names (issue 19)."""

from __future__ import annotations

import json

import pytest

from .sync_helpers import git, versions_of

pytestmark = pytest.mark.server


def _name_files(reg, name: str, entries: list[dict]) -> None:
    """A merged pull request added `entries` to v1's artifacts (edited by hand, as an attacker would)."""
    meta = reg.root / "registry" / name / "v1" / "metadata.json"
    doc = json.loads(meta.read_text())
    doc["artifacts"] += entries
    meta.write_text(json.dumps(doc, indent=2) + "\n")
    git(reg.root, "commit", "-qam", "add artifacts")


def test_sync_never_uploads_proc_files_or_a_file_with_a_guessed_size(reg, training, mlflow_server, uniq, tmp_path, cli):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp", files={"model.bin": "weights"}), external=True)
    secret = tmp_path / "runner" / "credentials"
    secret.parent.mkdir()
    secret.write_text("AWS_SECRET_ACCESS_KEY=hunter2-very-secret\n")
    _name_files(
        reg,
        name,
        [
            {"uri": "file:///proc/self/environ", "sha256": "0" * 64, "size": 0},
            {"uri": secret.as_uri(), "sha256": "0" * 64, "size": secret.stat().st_size},  # the size guessed right
        ],
    )

    r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url)

    assert r.code == 0, r.err
    assert "artifact 'credentials' not uploaded" in r.err and "does not match the recorded sha256" in r.err
    c = mlflow_server.client()
    run_id = versions_of(c, name)[1].run_id
    # /proc/self/environ is only listed (by name) in mlreg_external.json, like any file sync cannot read
    assert sorted(f.path for f in c.list_artifacts(run_id)) == ["mlreg_external.json", "model.bin", "run_metadata.json"]
    with open(c.download_artifacts(run_id, "mlreg_external.json")) as f:
        assert [a["uri"] for a in json.load(f)["external_artifacts"]] == ["file:///proc/self/environ"]
    stored = [p for p in (mlflow_server.folder / "artifacts").rglob("*") if p.is_file()]
    assert not any(p.name in ("environ", "credentials") for p in stored)
    assert not any(b"hunter2-very-secret" in p.read_bytes() for p in stored)


def test_a_file_whose_bytes_match_the_record_is_uploaded(reg, training, mlflow_server, uniq, tmp_path):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp", files={"model.bin": "weights"}), external=True)
    extra = tmp_path / "elsewhere" / "calibration.json"
    extra.parent.mkdir()
    extra.write_text("{}\n")
    import hashlib

    _name_files(reg, name, [{"uri": extra.as_uri(), "sha256": hashlib.sha256(b"{}\n").hexdigest(), "size": 3}])

    report = reg.sync(mlflow_server.url)

    assert report.ok
    c = mlflow_server.client()
    run_id = versions_of(c, name)[1].run_id
    assert sorted(f.path for f in c.list_artifacts(run_id)) == ["calibration.json", "model.bin", "run_metadata.json"]
