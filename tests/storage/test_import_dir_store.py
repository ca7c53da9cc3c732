"""`mlreg import dir` honours the object store and artifacts.git_max_file_mb like register."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mlreg.errors import MlregError

from conftest import git
from storekit import namespace, set_store, version_folder


@pytest.fixture
def layout(tmp_path):
    """Two versions of one model in the old folder-per-version layout."""
    root = tmp_path / "old_registry"
    for label, stamp, weights in (("v0.1.0", "2024-01-02T09:00:00", "w1"), ("v0.2.0", "2024-01-16T10:30:15", "w2")):
        d = root / "agents" / f"ppo_{label}"
        (d / "sub").mkdir(parents=True)
        (d / "metadata.json").write_text(
            json.dumps(
                {
                    "model_name": "ppo",
                    "model_version": label,
                    "training_timestamp": stamp,
                    "key_performance_metrics": {"sharpe": 1.0},
                }
            )
        )
        (d / "model.zip").write_text(weights)
        (d / "sub/config.json").write_text("{}")
    return root


def _files_in_commit(reg) -> list[str]:
    return sorted(git(reg.root, "show", "--name-only", "--format=", "HEAD").split())


def test_import_dir_puts_files_in_the_store(reg, layout, store, cli, tmp_path):
    r = cli(reg.root, "import", "dir", str(layout), "--store", store.uri)
    assert r.code == 0, r.err
    assert _files_in_commit(reg) == [
        "registry/ppo/model.yaml",
        "registry/ppo/v1/metadata.json",
        "registry/ppo/v2/metadata.json",
    ]
    for number, weights in ((1, b"w1"), (2, b"w2")):
        doc = json.loads((reg.root / f"registry/ppo/v{number}/metadata.json").read_text())
        by_path = {a["path"]: a for a in doc["artifacts"]}
        assert set(by_path) == {"model.zip", "sub/config.json", "legacy_metadata.json"}
        for rel, a in by_path.items():
            assert a["uri"] == f"{version_folder(reg, 'ppo', str(number))}/{rel}"
            assert a["uri"].startswith(f"{namespace(reg.root, store.uri)}/ppo/v{number}-")
            assert hashlib.sha256(store.read(a["uri"])).hexdigest() == a["sha256"]
        assert store.read(by_path["model.zip"]["uri"]) == weights
    assert {c.status for c in reg.verify("ppo", "2", download=True)} == {"ok"}
    reg.pull("ppo/1", tmp_path / "out")
    assert (tmp_path / "out/model.zip").read_text() == "w1"
    r = cli(reg.root, "import", "dir", str(layout), "--store", store.uri)  # a rerun: already imported
    assert r.code == 0 and "nothing to import" in r.out


def store_read(uri: str) -> bytes:
    from mlreg.objects.stores import object_path

    return Path(object_path(uri)).read_bytes()


def test_import_dir_uses_the_configured_store(reg, layout, tmp_path):
    folder = tmp_path / "store"
    set_store(reg.root, folder.as_uri())
    reg._settings = None
    done = reg.import_dir(layout)
    assert all(a.uri and a.uri.startswith(folder.as_uri()) for r in done.records for a in r.artifacts)
    assert store_read(version_folder(reg, "ppo", "2") + "/model.zip") == b"w2"
    assert not (reg.root / "registry/ppo/v1/model.zip").exists()


def test_import_dir_dry_run_sends_nothing(reg, layout, tmp_path, cli):
    folder = tmp_path / "store"
    r = cli(reg.root, "import", "dir", str(layout), "--store", folder.as_uri(), "--dry-run", "--json")
    assert r.code == 0, r.err
    assert not folder.exists()


def test_import_dir_refuses_large_files_without_a_store(reg, layout, cli):
    big = layout / "agents/ppo_v0.2.0/model.zip"
    big.write_bytes(b"\0" * (11 << 20))
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "import", "dir", str(layout))
    assert r.code == 1
    assert "agents/ppo_v0.2.0/model.zip (11.0 MB): larger than artifacts.git_max_file_mb (10 MB)" in r.err
    assert "--allow-large" in r.err and "artifacts.store" in r.err
    assert git(reg.root, "rev-parse", "HEAD") == head and not (reg.root / "registry/ppo").exists()
    r = cli(reg.root, "import", "dir", str(layout), "--allow-large")
    assert r.code == 0, r.err
    assert (reg.root / "registry/ppo/v2/model.zip").stat().st_size == 11 << 20


def test_import_dir_refusal_names_the_limit_setting(reg, layout):
    text = (reg.root / "mlreg.yaml").read_text() + "artifacts:\n  git_max_file_mb: 0.000001\n"
    (reg.root / "mlreg.yaml").write_text(text)
    git(reg.root, "commit", "-qam", "limit")
    reg._settings = None
    with pytest.raises(MlregError, match=r"larger than artifacts.git_max_file_mb \(1e-06 MB\)"):
        reg.import_dir(layout)
