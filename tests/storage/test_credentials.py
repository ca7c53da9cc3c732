"""Credentials are never printed or committed: endpoints and store URIs are masked in every message, and a store
URI that carries credentials is refused on the command line, in mlreg.yaml and (by validate) in a record."""

from __future__ import annotations

import json

import pytest

from mlreg.masking import credentials_in, mask

from conftest import git
from storekit import free_port, set_store


def _unchanged(reg, head: str) -> None:
    assert git(reg.root, "rev-parse", "HEAD") == head
    assert git(reg.root, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    "text, shown",
    [
        ("http://admin:secret@host:9000", "http://***@host:9000"),
        ("s3://KEY:secret@bucket/p", "s3://***@bucket/p"),
        (
            "see https://h/o?X-Amz-Signature=abc123&X-Amz-Credential=AKIA/x&part=1 now",
            "see https://h/o?X-Amz-Signature=***&X-Amz-Credential=***&part=1 now",
        ),
        ("postgresql://u:p@ss@db/x?password=pw", "postgresql://***@db/x?password=***"),
        ("file:///plain/folder", "file:///plain/folder"),
    ],
)
def test_one_mask_for_every_uri(text, shown):
    assert mask(text) == shown
    assert "secret" not in mask(text) and (credentials_in(text) is None) == (text == shown)


def test_endpoint_credentials_are_never_printed(reg, training, s3_env, monkeypatch, cli):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://admin:s3cr3t-pw@127.0.0.1:{free_port()}")  # nothing listens
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--store", "s3://some-bucket/models")
    assert r.code == 1 and "cannot reach the object store at http://***@127.0.0.1:" in r.err
    assert "s3cr3t" not in r.err + r.out and "admin" not in r.err + r.out
    _unchanged(reg, head)


@pytest.mark.parametrize("uri", ["s3://KEY:s3cr3t-pw@bucket/p", "s3://bucket/p?X-Amz-Security-Token=s3cr3t-pw"])
def test_a_store_flag_with_credentials_is_refused_and_masked(reg, training, uri, cli):
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--store", uri)
    assert r.code == 1 and r.err.count("\n") == 1 and "credentials never go in a store URI" in r.err
    assert "s3cr3t" not in r.err + r.out
    _unchanged(reg, head)


def test_a_file_store_with_credentials_is_refused_not_committed(reg, training, tmp_path, cli):
    folder = tmp_path / "store"
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(
        reg.root, "register", "m", "--from-dir", str(training()), "--store", f"file://user:s3cr3t-pw@localhost{folder}"
    )
    assert r.code == 1 and "carries a user name or password" in r.err and "s3cr3t" not in r.err + r.out
    assert not folder.exists() and not (reg.root / "registry/m").exists()
    assert "s3cr3t" not in git(reg.root, "log", "-p", "--all")
    _unchanged(reg, head)


def test_mlreg_yaml_store_with_credentials_is_refused(reg, training, cli):
    set_store(reg.root, "s3://bucket/models?X-Amz-Signature=s3cr3t-pw")
    reg._settings = None
    head = git(reg.root, "rev-parse", "HEAD")
    for args in (("register", "m", "--from-dir", str(training())), ("gc",)):
        r = cli(reg.root, *args)
        assert r.code == 1 and "credentials never go in a store URI" in r.err and "s3cr3t" not in r.err + r.out
    _unchanged(reg, head)


def test_validate_flags_credentials_in_a_record(reg, training, store, cli):
    set_store(reg.root, store.uri)
    reg._settings = None
    reg.register("m", training())
    path = reg.root / "registry/m/v1/metadata.json"
    doc = json.loads(path.read_text())
    doc["artifacts"][0]["uri"] = doc["artifacts"][0]["uri"].replace("://", "://user:s3cr3t-pw@", 1)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    r = cli(reg.root, "validate")
    assert r.code == 1 and "registry/m/v1/metadata.json: $.artifacts[0].uri:" in r.err
    assert "carries a user name or password" in r.err and "s3cr3t" not in r.err + r.out


def test_mlreg_yaml_store_with_a_password_is_refused_masked(reg, cli):
    (reg.root / "mlreg.yaml").write_text(
        (reg.root / "mlreg.yaml").read_text() + "artifacts:\n  store: s3://KEY:s3cr3t-pw@bucket/p\n"
    )
    for args in (("validate",), ("gc",)):
        r = cli(reg.root, *args)
        assert r.code == 1 and "$.artifacts.store" in r.err and "s3://***@bucket/p" in r.err
        assert "s3cr3t" not in r.err + r.out
