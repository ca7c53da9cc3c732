"""`resolve` of a store-backed version gives one answer: the folder of its (pulled, cached) files, in text and in
--json's `path`; with --no-pull the store URIs the help promises, never the registry folder (metadata.json only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storekit import namespace, set_store, version_folder

FILES = {"model.txt": "tree model\n", "sub/weights.bin": "w" * 3000}


@pytest.fixture
def stored(reg, training, store):
    set_store(reg.root, store.uri)
    reg._settings = None
    reg.register("btc", training(files=FILES))
    reg.promote("btc", "1", "beta", "ok")
    reg.promote("btc", "1", "champion", "best")
    return reg


def stored_folder(reg, store) -> str:
    """Where btc v1's files went: `<store>/_mlreg/<registry id>/btc/v1-<random>` (the namespaced layout)."""
    folder = version_folder(reg, "btc", "1")
    assert folder.startswith(f"{namespace(reg.root, store.uri)}/btc/v1-")
    return folder


def test_text_and_json_name_the_same_pulled_folder(stored, cli):
    text = cli(stored.root, "resolve", "btc@champion")
    assert text.code == 0, text.err
    folder = Path(text.out.strip())
    assert (folder / "model.txt").read_text() == "tree model\n" and (folder / "sub/weights.bin").is_file()
    doc = cli(stored.root, "resolve", "btc@champion", "--json").json()
    assert doc["path"] == str(folder) == doc["files_dir"]
    assert doc["registry_path"] == str(stored.root / "registry/btc/v1")
    assert all(p.startswith(str(folder)) and Path(p).is_file() for p in doc["artifact_paths"])


def test_no_pull_prints_the_store_uris(stored, store, cli, own_cache):
    r = cli(stored.root, "resolve", "btc@champion", "--no-pull")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    folder = stored_folder(stored, store)
    assert sorted(lines) == sorted(f"{folder}/{p}" for p in ["model.txt", "run_metadata.json", "sub/weights.bin"])
    assert str(stored.root) not in r.out
    assert not (own_cache / "files").exists()  # nothing was downloaded


def test_no_pull_json_path_is_the_store_folder(stored, store, cli):
    doc = cli(stored.root, "resolve", "btc/1", "--no-pull", "--json").json()
    folder = stored_folder(stored, store)
    assert doc["path"] == folder and "files_dir" not in doc
    assert all(p.startswith(f"{folder}/") for p in doc["artifact_paths"])
    assert doc["registry_path"] == str(stored.root / "registry/btc/v1")


def test_library_location(stored, store):
    res = stored.resolve("btc@champion", pull=False)
    assert res.location == stored_folder(stored, store) and res.stored and res.path == stored.root / "registry/btc/v1"
    pulled = stored.resolve("btc@champion")
    assert pulled.location == str(pulled.files_dir)


def test_version_kept_in_git_answers_its_registry_folder_either_way(reg, training, cli):
    reg.register("eth", training())
    folder = str(reg.root / "registry/eth/v1")
    for extra in ([], ["--no-pull"]):
        assert cli(reg.root, "resolve", "eth/1", *extra).out == folder + "\n"
        doc = cli(reg.root, "resolve", "eth/1", "--json", *extra).json()
        assert doc["path"] == doc["registry_path"] == folder
