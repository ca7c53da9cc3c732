"""register's uploads are a prepare step of its write transaction: after the write's checks, before the commit."""

from __future__ import annotations

import json

import pytest

from mlreg.errors import MlregError

from conftest import git
from storekit import namespace, set_store


def test_checks_run_before_any_upload(reg, training, store):
    set_store(reg.root, store.uri)
    reg._settings = None
    reg.register("m", training(files={"model.txt": "first\n"}), branch="candidate")
    before = store.keys()
    with pytest.raises(MlregError, match="branch 'candidate' already exists"):
        reg.register("m", training(files={"model.txt": "other bytes, same object\n"}), branch="candidate")
    assert store.keys() == before  # refused by the transaction's check: nothing was sent
    doc = json.loads(git(reg.root, "show", "candidate:registry/m/v1/metadata.json"))
    assert store.read(next(a["uri"] for a in doc["artifacts"] if a["path"] == "model.txt")) == b"first\n"


def test_no_commit_uploads_and_writes_the_record(reg, training, store):
    set_store(reg.root, store.uri)
    reg._settings = None
    head = git(reg.root, "rev-parse", "HEAD")
    reg.register("m", training(files={"model.txt": "tree\n"}), commit=False)
    assert git(reg.root, "rev-parse", "HEAD") == head
    doc = json.loads((reg.root / "registry/m/v1/metadata.json").read_text())
    by_path = {a["path"]: a for a in doc["artifacts"]}
    assert by_path["model.txt"]["uri"].startswith(f"{namespace(reg.root, store.uri)}/m/v1-")
    assert by_path["model.txt"]["uri"].endswith("/model.txt") and by_path["model.txt"]["size"] == 5
    assert store.read(by_path["model.txt"]["uri"]) == b"tree\n"
    assert sorted(p.name for p in (reg.root / "registry/m/v1").iterdir()) == ["metadata.json"]
