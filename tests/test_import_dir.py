import json

import pytest

from mlreg.api import Registry

from conftest import git


def legacy(root, kind, folder, meta, files=None):
    d = root / kind / folder
    d.mkdir(parents=True)
    (d / "metadata.json").write_text(json.dumps(meta))
    for name, text in (files or {"model.zip": f"weights {folder}"}).items():
        (d / name).write_text(text)
    return d


@pytest.fixture
def old_layout(tmp_path):
    root = tmp_path / "MLOps" / "model_registry"
    legacy(
        root,
        "rl_agents",
        "ppo_stocktrading_v0.2.0_20240116103015",
        {
            "model_name": "ppo_stocktrading",
            "model_version": "v0.2.0",
            "training_timestamp": "2024-01-16T10:30:15",
            "mlflow_run_id": "abc123",
            "source_data_version": "dvc:9f8e",
            "hyperparameters_config_path": "cfg/ppo.yaml",
            "key_performance_metrics": {"sharpe_ratio": 1.5, "cumulative_return": 0.25},
            "notes": "second try",
        },
    )
    legacy(
        root,
        "rl_agents",
        "ppo_stocktrading_v0.1.0_20240102090000",
        {
            "model_name": "ppo_stocktrading",
            "model_version": "v0.1.0",
            "training_timestamp": "2024-01-02T09:00:00",
            "key_performance_metrics": {"sharpe_ratio": 1.1},
        },
    )
    legacy(
        root,
        "sentiment_models",
        "llama3_8b_lora_v1.0.1_20240115142200",
        {
            "model_name": "llama3_8b_lora_sentiment",
            "model_version": "v1.0.1",
            "training_timestamp": "2024-01-15T14:22:00",
            "key_performance_metrics": {"accuracy": 0.85, "f1_score": 0.83},
        },
        files={"adapter_model.bin": "lora", "adapter_config.json": "{}"},
    )
    return root


def test_import_dir_one_commit_ordered_by_training_time(reg, old_layout, cli):
    before = int(git(reg.root, "rev-list", "--count", "HEAD"))
    r = cli(reg.root, "import", "dir", str(old_layout))
    assert r.code == 0, r.err
    assert int(git(reg.root, "rev-list", "--count", "HEAD")) == before + 1
    assert "Mlreg-Action: import" in git(reg.root, "log", "-1", "--format=%B")
    ppo = [Registry(reg.root).get("ppo_stocktrading", str(n)).record for n in (1, 2)]
    assert [v.params["legacy_version"] for v in ppo] == ["v0.1.0", "v0.2.0"]
    v2 = ppo[1]
    assert v2.metrics == {"sharpe_ratio": 1.5, "cumulative_return": 0.25}
    assert v2.run.mlflow_run_id == "abc123" and v2.lineage.source_data_version == "dvc:9f8e"
    assert v2.notes == "second try" and v2.stage == "development"
    assert v2.stage_history[0].action == "import"
    assert v2.params["imported_from"] == "rl_agents/ppo_stocktrading_v0.2.0_20240116103015"
    folder = reg.root / "registry/ppo_stocktrading/v2"
    assert (folder / "model.zip").read_text() == "weights ppo_stocktrading_v0.2.0_20240116103015"
    assert json.loads((folder / "legacy_metadata.json").read_text())["model_version"] == "v0.2.0"
    llama = Registry(reg.root).get("llama3_8b_lora_sentiment", "1").record
    assert sorted(a.path for a in llama.artifacts) == [
        "adapter_config.json",
        "adapter_model.bin",
        "legacy_metadata.json",
    ]
    assert Registry(reg.root).validate() == []
    events = cli(reg.root, "history", "ppo_stocktrading", "--json").json()
    assert [(e["action"], e["version"]) for e in events] == [("import", 1), ("import", 2)]
    assert events[0]["commit"] == git(reg.root, "rev-parse", "HEAD").strip()


def test_import_appends_after_existing_versions_and_honours_model(reg, training, old_layout):
    reg.register("agents", training())
    out = reg.import_dir(old_layout / "rl_agents", model="agents")
    assert [(r.name, r.version) for r in out.records] == [("agents", 2), ("agents", 3)]


def test_dry_run_writes_nothing(reg, old_layout, cli):
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "import", "dir", str(old_layout), "--dry-run", "--json")
    assert r.code == 0
    assert [(v["model"], v["version"]) for v in r.json()["versions"]] == [
        ("llama3_8b_lora_sentiment", 1),
        ("ppo_stocktrading", 1),
        ("ppo_stocktrading", 2),
    ]
    assert git(reg.root, "rev-parse", "HEAD") == head and not (reg.root / "registry/ppo_stocktrading").exists()


def test_bad_legacy_metadata_is_a_clear_error_and_writes_nothing(reg, tmp_path, cli):
    root = tmp_path / "old"
    legacy(root, "m", "x_v1", {"model_name": "m", "key_performance_metrics": {"acc": "high"}})
    status = git(reg.root, "status", "--porcelain")
    r = cli(reg.root, "import", "dir", str(root))
    assert r.code == 1 and "$.key_performance_metrics.acc: expected a number, got 'high'" in r.err
    assert git(reg.root, "status", "--porcelain") == status
    r = cli(reg.root, "import", "dir", str(tmp_path / "empty-nothing"))
    assert r.code == 1 and "not a folder" in r.err


def test_importing_the_same_folder_again_adds_only_what_is_new(reg, old_layout, cli):
    assert cli(reg.root, "import", "dir", str(old_layout)).code == 0
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "import", "dir", str(old_layout))
    assert r.code == 0 and "nothing to import" in r.out and "3 version(s) skipped: already imported" in r.out
    assert git(reg.root, "rev-parse", "HEAD") == head
    legacy(
        old_layout,
        "rl_agents",
        "ppo_stocktrading_v0.3.0_20240201000000",
        {"model_name": "ppo_stocktrading", "model_version": "v0.3.0", "training_timestamp": "2024-02-01T00:00:00"},
    )
    out = Registry(reg.root).import_dir(old_layout)
    assert [(r.name, r.version) for r in out.records] == [("ppo_stocktrading", 3)]


def test_every_broken_folder_is_reported_and_renamed_models_are_noted(reg, tmp_path, cli):
    root = tmp_path / "old"
    legacy(root, "a", "bad1", {"model_name": "ok", "key_performance_metrics": {"a": "b"}})
    legacy(root, "a", "bad2", {"model_name": "ok", "key_performance_metrics": {"c": "d"}})
    r = cli(reg.root, "import", "dir", str(root))
    assert r.code == 1 and "bad1/metadata.json: $.key_performance_metrics.a" in r.err
    assert "bad2/metadata.json: $.key_performance_metrics.c" in r.err
    good = tmp_path / "good"
    legacy(good, "odd name", "x 1", {"model_name": "../evil name", "key_performance_metrics": {"a": 1}})
    r = cli(reg.root, "import", "dir", str(good), "--dry-run")
    assert r.code == 0 and "would import odd name/x 1 -> evil-name v1" in r.out
    assert "note: model_name '../evil name' (in x 1) imported as 'evil-name'" in r.out
