"""`resolve` of a store-backed version gives one answer: the folder of its (pulled, cached) files, in text and in
--json's `path`; with --no-pull the store URIs the help promises, never the registry folder (metadata.json only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storekit import set_store

FILES = {"model.txt": "tree model\n", "sub/weights.bin": "w" * 3000}


@pytest.fixture
def stored(reg, training, store):
    set_store(reg.root, store.uri)
    reg._settings = None
    reg.register("btc", training(files=FILES))
    reg.promote("btc", "1", "beta", "ok")
    reg.promote("btc", "1", "champion", "best")
    return reg


def recorded(reg) -> tuple[str, list[str]]:
    """The store folder and the file URIs btc v1's record names (a folder of its own per upload)."""
    uris = [a["uri"] for a in json.loads((reg.root / "registry/btc/v1/metadata.json").read_text())["artifacts"]]
    folder = uris[0].rsplit("/model.txt", 1)[0] if uris[0].endswith("/model.txt") else uris[0].rsplit("/", 1)[0]
    return folder, uris


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
    folder, uris = recorded(stored)
    assert folder.startswith(f"{store.uri}/") and "/btc/v1" in folder
    assert (
        sorted(lines)
        == sorted(uris)
        == sorted(f"{folder}/{p}" for p in ["model.txt", "run_metadata.json", "sub/weights.bin"])
    )
    assert str(stored.root) not in r.out
    assert not (own_cache / "files").exists()  # nothing was downloaded


def test_no_pull_json_path_is_the_store_folder(stored, store, cli):
    doc = cli(stored.root, "resolve", "btc/1", "--no-pull", "--json").json()
    folder, uris = recorded(stored)
    assert doc["path"] == folder and folder.startswith(f"{store.uri}/") and "files_dir" not in doc
    assert sorted(doc["artifact_paths"]) == sorted(uris) and all(p.startswith(f"{folder}/") for p in uris)
    assert doc["registry_path"] == str(stored.root / "registry/btc/v1")


def test_library_location(stored, store):
    res = stored.resolve("btc@champion", pull=False)
    assert (
        res.location == recorded(stored)[0]
        and res.location.startswith(f"{store.uri}/")
        and res.stored
        and res.path == stored.root / "registry/btc/v1"
    )
    pulled = stored.resolve("btc@champion")
    assert pulled.location == str(pulled.files_dir)


def test_version_kept_in_git_answers_its_registry_folder_either_way(reg, training, cli):
    reg.register("eth", training())
    folder = str(reg.root / "registry/eth/v1")
    for extra in ([], ["--no-pull"]):
        assert cli(reg.root, "resolve", "eth/1", *extra).out == folder + "\n"
        doc = cli(reg.root, "resolve", "eth/1", "--json", *extra).json()
        assert doc["path"] == doc["registry_path"] == folder
