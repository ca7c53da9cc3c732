"""Which MLflow sync talks to, and that credentials never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlreg.sync.uri import local_store, mask, resolve, scrub


def test_tracking_uri_order(monkeypatch, tmp_path):
    root = tmp_path
    assert resolve(root, "http://cli:5000", "http://yaml") == resolve(root, "http://cli:5000", None)
    assert resolve(root, "http://cli:5000", "http://yaml").source == "--tracking-uri"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve(root, None, "http://yaml").uri == "http://env:5000"
    assert resolve(root, "http://cli:5000", "http://yaml").uri == "http://cli:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    t = resolve(root, None, "http://yaml:5000")
    assert (t.uri, t.source, t.embedded, t.artifacts) == ("http://yaml:5000", "mlreg.yaml", False, None)
    t = resolve(root, None, None)
    assert t == local_store(root) and t.embedded and t.source == "embedded"
    assert t.uri == f"sqlite:///{root}/.mlreg/mlflow.db" and t.artifacts == Path(root) / ".mlreg" / "artifacts"


@pytest.mark.parametrize(
    "uri, shown",
    [
        ("https://bob:s3cret@mlflow.example.com", "https://***@mlflow.example.com"),
        ("https://token@mlflow.example.com/path", "https://***@mlflow.example.com/path"),
        ("postgresql://ml:pw@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://h/x?token=abc&x=1", "https://h/x?token=***&x=1"),
    ],
)
def test_mask_hides_credentials(uri, shown):
    assert mask(uri) == shown


def test_scrub_removes_secrets_anywhere_in_a_message():
    uri = "http://bob:hunter2@127.0.0.1:5000"
    msg = "HTTPConnectionPool(host='127.0.0.1'): auth bob:hunter2 failed for http://bob:hunter2@127.0.0.1:5000/api"
    out = scrub(msg, uri)
    assert "hunter2" not in out and "http://***@127.0.0.1:5000/api" in out


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("databricks://bob:hunter2@x", "unsupported tracking URI scheme 'databricks'"),
        ("postgresql://bob:hunter2@localhost:1/x", "database driver is not installed"),
    ],
)
def test_unsupported_uri_or_missing_driver_is_one_line(reg, cli, uri, expected):
    pytest.importorskip("mlflow")
    if "postgresql" in uri:
        try:
            import psycopg  # noqa: F401

            pytest.skip("psycopg is installed")
        except ImportError:
            pass
    r = cli(reg.root, "sync", "--tracking-uri", uri)
    assert r.code == 1 and expected in r.err and "hunter2" not in r.err + r.out
    assert r.err.startswith("Error: ") and len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("uri", ["127.0.0.1:5000", "localhost:5000", "mlflow.internal:443/prefix"])
def test_a_server_address_without_scheme_says_to_add_http(reg, cli, uri):
    r = cli(reg.root, "sync", "--tracking-uri", uri)
    assert r.code == 1 and f"write http://{uri}" in r.err and "maintenance" not in r.err
    assert not (reg.root / ".mlreg").exists() and not (reg.root / "mlruns").exists()
