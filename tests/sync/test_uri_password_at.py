"""A tracking URI whose password holds '@' never shows its credentials: not in output, commit messages,
notes, stage_history reasons or sync output (masked by the parser that reads the URI)."""

from __future__ import annotations

import pytest

from mlreg.sync.uri import mask, scrub

from .sync_helpers import git
from .test_import_mlflow import make_version

SECRETS = ("alice", "p@ss", "w0rd")


@pytest.mark.parametrize(
    "uri, shown",
    [
        ("http://alice:p@ss:w0rd@host:5000", "http://***@host:5000"),
        ("https://alice:p@ss:w0rd@host:5000/api?x=1", "https://***@host:5000/api?x=1"),
        ("postgresql://u:pa%40ss@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("see http://a:b@c@h/x and https://h/path@x", "see http://***@h/x and https://h/path@x"),
    ],
)
def test_mask_splits_the_uri_as_urllib_does(uri, shown):
    assert mask(uri) == shown


def test_scrub_hides_a_password_with_at_signs_anywhere():
    out = scrub("401 for alice:p@ss:w0rd (password p@ss:w0rd)", "http://alice:p@ss:w0rd@host:5000")
    assert not [s for s in ("p@ss", "w0rd") if s in out], out


@pytest.mark.server
def test_import_and_sync_never_show_the_password(reg, mlflow_server, uniq, cli, tmp_path):
    c = mlflow_server.client()
    exp = c.create_experiment(f"{uniq}-exp")
    make_version(c, f"{uniq}-m", exp, tmp_path, tags={"stage": "beta"})
    uri = mlflow_server.url.replace("http://", "http://alice:p@ss:w0rd@")
    r = cli(reg.root, "import", "mlflow", "--tracking-uri", uri, "--model", f"{uniq}-m")
    assert r.code == 0, r.err
    s = cli(reg.root, "sync", "--tracking-uri", uri)
    assert s.code == 0, s.err
    shown = r.out + r.err + s.out + s.err + git(reg.root, "log", "-1", "--format=%B")
    shown += (reg.root / f"registry/{uniq}-m/v1/metadata.json").read_text()
    assert "***@127.0.0.1" in shown
    assert not [secret for secret in SECRETS if secret in shown], shown
