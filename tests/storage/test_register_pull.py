"""register to a store, pull into the cache, resolve / load_model, verify: against moto's S3 and a folder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from mlreg import load_model
from mlreg.errors import MlregError

from conftest import git
from storekit import namespace, set_store, version_folder

FILES = {"model.txt": "tree model\n", "sub/weights.bin": "w" * 5000, "notes with space.md": "hello\n"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def stored(reg, training, store):
    """A registry whose mlreg.yaml names the store, with v1 registered there."""
    set_store(reg.root, store.uri)
    reg._settings = None
    done = reg.register("btc", training(files=FILES))
    return reg, done


def test_register_puts_files_in_store_and_only_metadata_in_git(stored, store):
    reg, done = stored
    committed = git(reg.root, "show", "--name-only", "--format=", "HEAD").split()
    assert committed == ["registry/btc/model.yaml", "registry/btc/v1/metadata.json"]
    assert sorted(p.name for p in (reg.root / "registry/btc/v1").iterdir()) == ["metadata.json"]
    doc = json.loads((reg.root / "registry/btc/v1/metadata.json").read_text())
    by_path = {a["path"]: a for a in doc["artifacts"]}
    assert set(by_path) == {"run_metadata.json", *FILES}
    for rel, text in FILES.items():
        a = by_path[rel]
        assert a["sha256"] == sha(text.encode()) and a["size"] == len(text.encode())
        assert a["uri"].startswith(f"{namespace(reg.root, store.uri)}/btc/v1-")
        assert store.read(a["uri"]) == text.encode()
    assert by_path["sub/weights.bin"]["uri"] == f"{version_folder(reg, 'btc', '1')}/sub/weights.bin"
    assert reg.validate() == []


def test_pull_verifies_places_copies_and_second_pull_transfers_nothing(stored, tmp_path, own_cache):
    reg, _ = stored
    out = tmp_path / "out"
    first = reg.pull("btc@latest", out)
    assert first.downloaded_files == 4 and first.downloaded_bytes > 5000
    for rel, text in FILES.items():
        assert (out / rel).read_text() == text
    cached = own_cache / "files" / sha(b"w" * 5000)[:2] / sha(b"w" * 5000)[2:]
    assert not os.path.samefile(cached, out / "sub/weights.bin")  # a copy: writing to it cannot reach the cache
    second = reg.pull("btc@latest", out)
    assert (second.downloaded_files, second.downloaded_bytes, second.cached_files) == (0, 0, 4)
    elsewhere = reg.pull("btc/1", tmp_path / "other")  # another folder: copied from the cache, no download
    assert elsewhere.downloaded_bytes == 0 and (tmp_path / "other/model.txt").read_text() == "tree model\n"


def test_resolve_pulls_on_demand_and_no_pull_gives_uris(stored, store, cli):
    reg, _ = stored
    res = reg.resolve("btc@latest", pull=False)
    assert all(p.startswith(store.uri) for p in res.artifact_paths) and res.files_dir is None
    res = reg.resolve("models:/btc@latest")
    assert res.files_dir is not None and all(Path(p).is_file() for p in res.artifact_paths)
    assert (res.files_dir / "model.txt").read_text() == "tree model\n"
    assert load_model("btc@latest", reg.root) == res.files_dir
    r = cli(reg.root, "resolve", "btc/1", "--json", "--no-pull")
    assert r.code == 0 and r.json()["artifact_paths"][0].startswith(store.uri)
    r = cli(reg.root, "resolve", "btc/1")
    assert r.code == 0 and Path(r.out.strip()) == res.files_dir


def test_cli_register_with_store_flag_and_pull(reg, training, store, cli, tmp_path):
    r = cli(reg.root, "register", "eth", "--from-dir", str(training()), "--store", store.uri, "--json")
    assert r.code == 0, r.err
    v = reg.get("eth", "1").record
    assert all(a.stored for a in v.artifacts)
    r = cli(reg.root, "pull", "eth@latest", "-o", str(tmp_path / "o"), "--json")
    assert r.code == 0, r.err
    assert r.json()["downloaded_files"] == 2 and (tmp_path / "o/model.txt").is_file()
    r = cli(reg.root, "pull", "eth@latest", "-o", str(tmp_path / "o"))
    assert r.code == 0 and "nothing to download" in r.out


def test_verify_checks_store_and_names_deleted_object(stored, store, cli):
    reg, _ = stored
    assert {c.status for c in reg.verify("btc", "1")} == {"ok"}
    assert {c.status for c in reg.verify("btc", "1", download=True)} == {"ok"}
    gone = f"{version_folder(reg, 'btc', '1')}/model.txt"
    store.delete(gone)
    r = cli(reg.root, "verify", "btc@1", "--json")
    assert r.code == 1
    bad = [a for a in r.json()["artifacts"] if a["status"] != "ok"]
    assert bad == [
        {
            "model": "btc",
            "version": 1,
            "location": gone,
            "status": "missing",
            "expected": sha(b"tree model\n"),
            "actual": None,
        }
    ]
    with pytest.raises(MlregError, match="model.txt: not found in the store"):
        reg.pull("btc/1")


def test_bytes_changed_behind_our_back(stored, store, own_cache, tmp_path, cli):
    reg, _ = stored
    uri = f"{version_folder(reg, 'btc', '1')}/model.txt"
    store.write(uri, b"TREE MODEL\n")  # same size, other bytes
    assert {c.status for c in reg.verify("btc", "1")} == {"ok"}  # size only: cannot tell
    checks = {c.location: c.status for c in reg.verify("btc", "1", download=True)}
    assert checks[uri] == "mismatch"
    r = cli(reg.root, "pull", "btc/1", "-o", str(tmp_path / "o"))
    assert r.code == 1 and "model.txt" in r.err and "do not match the record" in r.err
    assert not (own_cache / "files" / sha(b"TREE MODEL\n")[:2]).exists()  # the bad bytes are not kept
    assert not list((own_cache / "tmp").iterdir())
    assert not (tmp_path / "o/model.txt").exists()


def test_objects_already_in_the_store_never_block_a_register_nor_are_overwritten(reg, training, store):
    set_store(reg.root, store.uri)
    reg._settings = None
    old = f"{store.uri}/btc/v1/model.txt"  # the old layout's place, taken by someone else's bytes
    store.write(old, b"someone else's bytes\n")
    reg.register("btc", training())
    assert store.read(old) == b"someone else's bytes\n"
    assert version_folder(reg, "btc", "1").startswith(f"{namespace(reg.root, store.uri)}/btc/v1-")
    assert {c.status for c in reg.verify("btc", "1", download=True)} == {"ok"}


def test_large_file_refused_without_store(reg, training, cli):
    folder = training()
    (folder / "big.bin").write_bytes(b"\0" * (11 << 20))
    r = cli(reg.root, "register", "big", "--from-dir", str(folder))
    assert r.code == 1
    assert "big.bin (11.0 MB): larger than artifacts.git_max_file_mb (10 MB)" in r.err
    assert "artifacts.store" in r.err and "--allow-large" in r.err and not (reg.root / "registry/big").exists()
    r = cli(reg.root, "register", "big", "--from-dir", str(folder), "--allow-large")
    assert r.code == 0 and (reg.root / "registry/big/v1/big.bin").stat().st_size == 11 << 20


def test_git_max_file_mb_setting(reg, training):
    set_store(reg.root, None)
    text = (reg.root / "mlreg.yaml").read_text().replace("artifacts: {}", "artifacts:\n  git_max_file_mb: 0.001")
    (reg.root / "mlreg.yaml").write_text(text)
    git(reg.root, "commit", "-qam", "limit")
    reg._settings = None
    with pytest.raises(MlregError, match=r"model.txt \(0.0 MB\): larger than artifacts.git_max_file_mb \(0.001 MB\)"):
        reg.register("m", training(files={"model.txt": "x" * 2000}))


def test_validate_works_offline_with_unreachable_store(reg, training, monkeypatch, cli):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    set_store(reg.root, "s3://no-such-bucket-here/models")
    r = cli(reg.root, "validate")
    assert r.code == 0, r.err


def test_settings_schema_refuses_bad_store(reg, cli):
    (reg.root / "mlreg.yaml").write_text((reg.root / "mlreg.yaml").read_text() + "artifacts:\n  store: ftp://x\n")
    r = cli(reg.root, "validate")
    assert r.code == 1 and "mlreg.yaml" in r.err and "artifacts.store" in r.err


def test_progress_reports_every_byte(reg, training, store):
    seen = []
    reg.register("p", training(files=FILES), store=store.uri, progress=lambda n, total: seen.append((n, total)))
    total = sum(a.size for a in reg.get("p", "1").record.artifacts)
    assert seen and {t for _, t in seen} == {total} and sum(n for n, _ in seen) == total
    got = []
    reg.pull("p/1", progress=lambda n, t: got.append((n, t)))
    assert sum(n for n, _ in got) == total


def test_pull_of_an_external_version_names_what_it_cannot_place(reg, training, tmp_path, cli):
    reg.register("ext", training(), external=True)
    r = cli(reg.root, "pull", "ext/1", "-o", str(tmp_path / "o"))
    assert r.code == 0 and "not placed (--external file, recorded by path)" in r.out
