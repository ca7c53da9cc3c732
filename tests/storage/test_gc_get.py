"""gc needs a store (its team cases: test_gc_team.py); get reads one model from a remote registry without a
checkout."""

from __future__ import annotations

from mlreg.storage import gitops

from conftest import git
from storekit import set_store


def test_gc_needs_a_store(reg, cli):
    r = cli(reg.root, "gc")
    assert r.code == 1 and "no artifacts.store configured" in r.err


def _remote(tmp_path, reg) -> str:
    """The registry published as a bare repository that allows partial clones (as GitHub and GitLab do)."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(reg.root), str(origin))
    git(origin, "config", "uploadpack.allowFilter", "true")
    return origin.as_uri()


def test_get_reads_one_model_and_pulls(reg, training, store, tmp_path, cli, monkeypatch):
    set_store(reg.root, store.uri)
    reg._settings = None
    reg.register("btc", training(files={"model.txt": "btc v1\n"}))
    reg.register("btc", training(files={"model.txt": "btc v2\n", "extra.bin": "e"}))
    reg.promote("btc", "1", "beta", reason="ok")
    reg.promote("btc", "1", "champion", reason="best")
    url = _remote(tmp_path, reg)
    host = tmp_path / "host"
    host.mkdir()
    r = cli(host, "get", url, "btc@champion", "--json")
    assert r.code == 0, r.err
    assert r.json()["dest"] == str(host / "btc-v1") and (host / "btc-v1/model.txt").read_text() == "btc v1\n"
    r = cli(host, "get", url, "btc@latest", "-o", str(host / "latest"))
    assert r.code == 0 and (host / "latest/extra.bin").read_text() == "e"
    r = cli(host, "get", url, "nope@latest")
    assert r.code == 1 and "no model 'nope'" in r.err


def test_get_of_a_version_kept_in_git(reg, training, tmp_path, cli):
    reg.register("small", training(files={"model.txt": "in git\n"}))
    url = _remote(tmp_path, reg)
    r = cli(tmp_path, "get", url, "small/1", "-o", str(tmp_path / "o"))
    assert r.code == 0, r.err
    assert (tmp_path / "o/model.txt").read_text() == "in git\n"


def test_sparse_checkout_fetches_only_that_model(reg, training, tmp_path):
    reg.register("wanted", training(files={"model.txt": "wanted\n"}))
    reg.register("other", training(files={"model.txt": "other model bytes\n"}))
    url = _remote(tmp_path, reg)
    other_blob = git(reg.root, "rev-parse", "HEAD:registry/other/v1/model.txt").strip()
    wanted_blob = git(reg.root, "rev-parse", "HEAD:registry/wanted/v1/model.txt").strip()
    dest = tmp_path / "checkout"
    gitops.sparse_checkout(url, "registry/wanted", dest)
    assert (dest / "registry/wanted/v1/model.txt").read_text() == "wanted\n"
    assert (dest / "mlreg.yaml").is_file() and not (dest / "registry/other").exists()

    listed = git(dest, "rev-list", "--objects", "--all", "--missing=print").split()
    missing = {x[1:] for x in listed if x.startswith("?")}
    assert other_blob in missing and wanted_blob not in missing  # the other model's bytes never came over
    assert git(dest, "rev-parse", "--is-shallow-repository").strip() == "true"


def test_get_bad_url(tmp_path, cli):
    r = cli(tmp_path, "get", (tmp_path / "nothing.git").as_uri(), "m@latest")
    assert r.code == 1 and r.err.startswith("Error: cannot read file://")
