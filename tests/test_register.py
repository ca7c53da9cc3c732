import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlreg.api import Registry
from mlreg.errors import MlregError

from conftest import git


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def snapshot(repo: Path) -> tuple[str, str, str]:
    """HEAD, index and working tree status: what a failed command must leave unchanged."""
    return head(repo), git(repo, "ls-files", "-s"), git(repo, "status", "--porcelain", "--untracked-files=all")


def test_register_builds_version_from_training_folder(reg, training, cli):
    src = training()
    r = cli(
        reg.root,
        "register",
        "btc-1h",
        "--from-dir",
        str(src),
        "--description",
        "Trained 2023-2025 data",
        "--param",
        "timeframe=1H",
        "--metric",
        "sharpe=1.5",
        "--tag",
        "target_type=regression",
    )
    assert r.code == 0, r.err
    meta = json.loads((reg.root / "registry/btc-1h/v1/metadata.json").read_text())
    assert meta["version"] == 1 and meta["stage"] == "development"
    assert meta["params"]["dataset_slug"] == "BINANCE_BTCUSDT.P_60"
    assert meta["params"]["timeframe"] == "1H" and meta["params"]["learning_rate"] == "0.03"
    assert meta["params"]["output_dir"] == str(src.resolve())
    assert meta["metrics"] == {"rmse_train": 0.0548, "rmse_val": 0.0669, "rmse_test": 0.0448, "sharpe": 1.5}
    assert meta["tags"] == {"target_type": "regression"}
    assert (
        meta["run"]["name"].startswith("run_2025") and meta["run"]["experiment"] == "binance-btcusdt-perp-1h-7d-logret"
    )
    assert meta["created_by"] == "Test User <test@example.com>"
    copied = reg.root / "registry/btc-1h/v1/model.txt"
    assert copied.read_text() == (src / "model.txt").read_text()
    art = {a["path"]: a for a in meta["artifacts"]}
    assert art["model.txt"]["sha256"] == hashlib.sha256(copied.read_bytes()).hexdigest()
    assert art["model.txt"]["size"] == copied.stat().st_size
    assert (reg.root / "registry/btc-1h/model.yaml").exists()


def test_register_is_one_commit_with_trailers_touching_only_its_files(reg, training):
    before = head(reg.root)
    out = reg.register("btc", training())
    assert git(reg.root, "rev-parse", "HEAD~1").strip() == before
    msg = git(reg.root, "log", "-1", "--format=%B")
    assert msg.startswith("mlreg: register btc v1\n")
    assert "Mlreg-Action: register\nMlreg-Model: btc\nMlreg-Version: 1" in msg
    files = sorted(git(reg.root, "show", "--name-only", "--format=", "HEAD").split())
    assert (
        files
        == sorted(out.paths)
        == [
            "registry/btc/model.yaml",
            "registry/btc/v1/metadata.json",
            "registry/btc/v1/model.txt",
            "registry/btc/v1/run_metadata.json",
        ]
    )
    assert git(reg.root, "status", "--porcelain") == ""


def test_versions_number_up_and_model_yaml_is_written_once(reg, training):
    reg.register("btc", training())
    first_model_commit = git(reg.root, "log", "--format=%H", "--", "registry/btc/model.yaml")
    out = reg.register("btc", training())
    assert out.version == 2 and (reg.root / "registry/btc/v2/metadata.json").exists()
    assert git(reg.root, "log", "--format=%H", "--", "registry/btc/model.yaml") == first_model_commit


def test_users_unrelated_staged_and_unstaged_changes_stay_as_they_were(reg, training):
    (reg.root / "README.md").write_text("edited, unstaged\n")
    (reg.root / "staged.txt").write_text("staged\n")
    git(reg.root, "add", "staged.txt")
    (reg.root / "untracked.txt").write_text("x\n")
    status = git(reg.root, "status", "--porcelain")
    reg.register("btc", training())
    assert git(reg.root, "status", "--porcelain") == status
    assert "staged.txt" not in git(reg.root, "show", "--name-only", "--format=", "HEAD")
    assert (reg.root / "README.md").read_text() == "edited, unstaged\n"


def test_refuses_to_commit_over_users_changes_to_the_same_files(reg, training):
    reg.register("btc", training())
    (reg.root / "registry/btc/model.yaml").write_text("schema_version: 1\nname: btc\ndescription: mine\n")
    before = snapshot(reg.root)
    with pytest.raises(MlregError, match="registry/btc/model.yaml: uncommitted changes"):
        reg.tag_set("btc", None, "k", "v")
    assert snapshot(reg.root) == before


def test_external_records_absolute_paths_without_copying(reg, training):
    src = training(files={"model.txt": "weights\n", "sub/extra.bin": "x"})
    reg.register("ext", src, external=True)
    meta = json.loads((reg.root / "registry/ext/v1/metadata.json").read_text())
    uris = sorted(a["uri"] for a in meta["artifacts"])
    assert uris == sorted(str((src / p).resolve()) for p in ("model.txt", "run_metadata.json", "sub/extra.bin"))
    assert meta["params"]["external_model_path"] == str((src / "model.txt").resolve())
    assert sorted(p.name for p in (reg.root / "registry/ext/v1").iterdir()) == ["metadata.json"]


def test_flags_alone_are_enough_without_run_metadata(reg, tmp_path, cli):
    src = tmp_path / "plain output, 60"
    src.mkdir()
    (src / "agent.zip").write_bytes(b"zip")
    r = cli(
        reg.root,
        "register",
        "agent",
        "--from-dir",
        str(src),
        "--metric",
        "evaluation/best_mean_reward=12.5",
        "--param",
        "timeframe=1H",
        "--experiment",
        "rl-1h",
    )
    assert r.code == 0, r.err
    meta = json.loads((reg.root / "registry/agent/v1/metadata.json").read_text())
    assert meta["metrics"] == {"evaluation/best_mean_reward": 12.5}
    assert meta["run"]["experiment"] == "rl-1h"
    assert [a["path"] for a in meta["artifacts"]] == ["agent.zip"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["../x"], "invalid model name '../x'"),
        (["a/b"], "invalid model name 'a/b'"),
        ([""], "invalid model name ''"),
        (["ok", "--metric", "k=notanumber"], "--metric k=notanumber: expected a number"),
        (["ok", "--param", "novalue"], "--param 'novalue': expected KEY=VALUE"),
        (["ok", "--from-dir", "/does/not/exist"], "/does/not/exist: --from-dir is not a folder"),
    ],
)
def test_bad_input_is_one_error_line_and_changes_nothing(reg, training, cli, args, message):
    src = training()
    argv = ["register", *args] if "--from-dir" in args else ["register", *args, "--from-dir", str(src)]
    before = snapshot(reg.root)
    r = cli(reg.root, *argv)
    assert r.code == 1
    assert message in r.err and "Traceback" not in r.err
    assert r.err.startswith("Error: ")
    assert snapshot(reg.root) == before
    assert not (reg.root / "registry" / "ok").exists()


def test_missing_from_dir_is_a_usage_error(reg, cli):
    r = cli(reg.root, "register", "ok")
    assert r.code == 2 and "--from-dir" in r.err


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "run_metadata.json: malformed JSON"),
        ('{"metrics": {"rmse": "low"}}', "run_metadata.json: $.metrics.rmse: expected a number"),
        ('{"schema_version": 9}', "$.schema_version: file uses schema_version 9"),
    ],
)
def test_bad_run_metadata_names_file_and_path(reg, tmp_path, cli, content, message):
    src = tmp_path / "out"
    src.mkdir()
    (src / "run_metadata.json").write_text(content)
    before = snapshot(reg.root)
    r = cli(reg.root, "register", "m", "--from-dir", str(src))
    assert r.code == 1 and message in r.err
    assert snapshot(reg.root) == before


def test_no_commit_writes_files_only(reg, training, cli):
    before = head(reg.root)
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--no-commit")
    assert r.code == 0, r.err
    assert head(reg.root) == before
    assert (reg.root / "registry/m/v1/metadata.json").exists()
    assert "?? registry/m/" in git(reg.root, "status", "--porcelain")


def test_a_failed_commit_point_changes_nothing(reg, training, monkeypatch):
    from mlreg.storage import gitops

    def broken(*a, **k):
        raise gitops.GitError("simulated failure")

    monkeypatch.setattr(gitops.Git, "update_ref", broken)
    before = snapshot(reg.root)
    with pytest.raises(gitops.GitError):
        reg.register("m", training())
    assert snapshot(reg.root) == before
    assert not (reg.root / "registry/m").exists()
    assert not (reg.root / ".git/index.lock").exists() and not (reg.root / ".git/mlreg-journal.json").exists()


def test_concurrent_registers_never_share_a_version_number(reg, training):
    script = (
        "import sys; from mlreg.api import Registry; print(Registry(sys.argv[1]).register('race', sys.argv[2]).version)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(reg.root), str(training())],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(3)
    ]
    results = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert sorted(int(out) for out, _ in results) == [1, 2, 3]
    assert Registry(reg.root).validate() == []
    assert len(git(reg.root, "log", "--format=%H", "--", "registry/race").split()) == 3


def test_registry_outside_git_is_a_clear_error(tmp_path, training, cli):
    r = cli(tmp_path, "register", "m", "--from-dir", str(training()))
    assert r.code == 1 and "not inside a git repository" in r.err


def test_never_writes_through_a_symlinked_model_folder(reg, training, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (reg.root / "registry" / "linked").symlink_to(outside, target_is_directory=True)
    before = snapshot(reg.root)
    with pytest.raises(MlregError, match="refusing to write through the symlink registry/linked"):
        reg.register("linked", training())
    assert snapshot(reg.root) == before and list(outside.iterdir()) == []


def test_a_killed_registers_temp_folder_is_cleaned_up_next_time(reg, training):
    reg.register("m", training())
    stale = reg.root / "registry/m/.v2.tmp-dead"
    stale.mkdir()
    (stale / "half.bin").write_text("partial")
    assert reg.register("m", training()).version == 2
    assert not stale.exists()
    assert git(reg.root, "status", "--porcelain") == ""


def test_a_version_number_deleted_in_git_is_never_reused(reg, training, cli):
    reg.register("m", training())
    reg.register("m", training())
    git(reg.root, "rm", "-rq", "registry/m/v2")
    git(reg.root, "commit", "-qm", "drop v2 by hand")
    before = snapshot(reg.root)
    r = cli(reg.root, "register", "m", "--from-dir", str(training()))
    assert r.code == 1 and "registry/m/v2 existed and was deleted in commit" in r.err and "never reused" in r.err
    assert snapshot(reg.root) == before
