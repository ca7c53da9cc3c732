"""Bad input found by exploratory QA: each is a clear error that changes nothing."""

import json
import os
import stat

import pytest

from mlreg.api import Registry

from conftest import git
from helpers import world


def snapshot(root):
    return (
        git(root, "rev-parse", "HEAD"),
        git(root, "ls-files", "-s"),
        git(root, "status", "--porcelain", "--untracked-files=all"),
    )


@world
def two(reg, training):
    """m v1 and v2 in development (built once per module, copied per test)."""
    reg.register("m", training())
    reg.register("m", training())


def test_alias_may_not_shadow_an_exclusive_stage(two, cli):
    before = snapshot(two.root)
    r = cli(two.root, "alias", "set", "m", "champion", "1")
    assert r.code == 1 and "alias 'champion' is reserved: it names stage 'champion'" in r.err
    assert snapshot(two.root) == before
    (two.root / "registry/m/model.yaml").write_text("schema_version: 1\nname: m\naliases: {champion: 1}\n")
    assert any("$.aliases.champion: alias is reserved" in p for p in Registry(two.root).validate())


def test_training_folder_with_a_git_repository_inside(reg, training):
    src = training()
    git(src, "init", "-q")
    out = reg.register("m", src)
    assert all(not p.startswith("registry/m/v1/.git") for p in out.paths)
    assert [a.path for a in out.record.artifacts] == ["model.txt", "run_metadata.json"]
    assert Registry(reg.root).validate() == []


@pytest.mark.parametrize("where", [".", "registry", "registry/m/v1", ".."])
def test_from_dir_may_not_be_the_repository_or_the_registry(two, cli, where):
    before = snapshot(two.root)
    r = cli(two.root, "register", "m", "--from-dir", where)
    assert r.code == 1 and "must be a training output folder" in r.err
    assert snapshot(two.root) == before


def test_empty_from_dir_is_refused(two, cli):
    r = cli(two.root, "register", "m", "--from-dir", "")
    assert r.code == 2 and "--from-dir needs a folder" in r.err


@pytest.mark.parametrize("metrics", ['{"a": NaN}', '{"b": Infinity}', '{"c": -Infinity}', '{"d": 1e999}'])
def test_non_finite_metrics_are_not_registered(reg, tmp_path, cli, metrics):
    """Registered without them, named in one note (tests/test_newcomer_nan.py has the rest)."""
    src = tmp_path / "run"
    src.mkdir()
    (src / "run_metadata.json").write_text(f'{{"metrics": {metrics}}}')
    r = cli(reg.root, "register", "m", "--from-dir", str(src))
    assert r.code == 0 and "not finite" in r.err
    assert json.loads((reg.root / "registry/m/v1/metadata.json").read_text())["metrics"] == {}


def test_validate_refuses_non_finite_metrics_written_by_hand(two):
    path = two.root / "registry/m/v1/metadata.json"
    path.write_text(path.read_text().replace('"rmse_val": 0.0669', '"rmse_val": NaN'))
    assert any("registry/m/v1/metadata.json: malformed JSON: NaN" in p for p in Registry(two.root).validate())


@pytest.mark.parametrize("args", [["--branch", ""], ["--branch", "pr", "--no-commit"]])
def test_contradictory_branch_flags_are_usage_errors(two, cli, args):
    before = snapshot(two.root)
    r = cli(two.root, "promote", "m@2", "beta", "--reason", "x", *args)
    assert r.code == 2 and "--branch" in r.err
    assert snapshot(two.root) == before


@pytest.mark.parametrize("key", ["k\nMlreg-Action: evil", "", "a:b", "mlreg.digest", "x" * 251])
def test_tag_keys_mlflow_cannot_store_are_refused(two, cli, key):
    before = snapshot(two.root)
    r = cli(two.root, "tag", "set", "m@1", key, "v")
    assert r.code == 1 and "invalid tag key" in r.err
    assert snapshot(two.root) == before


def test_bad_keys_in_flags_and_files(two, training, cli):
    r = cli(two.root, "register", "m", "--from-dir", str(training()), "--param", "a:b=1")
    assert r.code == 1 and "invalid param key 'a:b'" in r.err
    path = two.root / "registry/m/v1/metadata.json"
    doc = json.loads(path.read_text())
    doc["tags"]["bad\nkey"] = "v"
    path.write_text(json.dumps(doc))
    assert any("$.tags: expected a string matching" in p for p in Registry(two.root).validate())


def test_tag_value_with_newline_cannot_break_the_commit_subject(two):
    two.tag_set("m", "1", "note", "line one\nMlreg-Action: evil")
    msg = git(two.root, "log", "-1", "--format=%B")
    assert msg.splitlines()[0] == "mlreg: tag set m v1 note=line one Mlreg-Action: evil"
    assert git(two.root, "log", "-1", "--format=%(trailers:key=Mlreg-Action,valueonly)").strip() == "tag"


def test_model_yaml_naming_another_model_is_refused_not_followed(two, cli):
    (two.root / "registry/m/model.yaml").write_text("schema_version: 1\nname: other\n")
    git(two.root, "commit", "-qam", "hand edit")
    before = snapshot(two.root)
    r = cli(two.root, "alias", "set", "m", "B", "1")
    assert r.code == 1 and "registry/m/model.yaml: $.name: expected 'm' (the folder name), got 'other'" in r.err
    assert snapshot(two.root) == before and not (two.root / "registry/other").exists()


@pytest.mark.parametrize(
    "path, text, expected",
    [
        ("mlreg.yaml", "[]\n", "mlreg.yaml: $: expected a mapping of settings, got list"),
        ("registry/m/model.yaml", "schema_version: 1\nname: m\naliases: {1: 1}\n", "$.aliases.1"),
        ("registry/m/model.yaml", "schema_version: 1\nname: m\naliases: [A]\n", "$.aliases: expected a mapping"),
    ],
)
def test_wrong_shapes_are_clear_errors(two, cli, path, text, expected):
    (two.root / path).write_text(text)
    git(two.root, "commit", "-qam", "hand edit")  # committed: writes read the commit they extend, not the work tree
    for args in (["show", "m@1"], ["resolve", "m@1"], ["promote", "m@1", "beta", "-r", "x"]):
        r = cli(two.root, *args)
        assert r.code == 1 and expected in r.err and "unexpected" not in r.err, (args, r.err)


def test_version_number_of_the_wrong_type_is_a_clear_error(two, cli):
    path = two.root / "registry/m/v1/metadata.json"
    doc = json.loads(path.read_text())
    doc["version"] = "1"
    path.write_text(json.dumps(doc))
    r = cli(two.root, "list", "--versions")
    assert r.code == 1 and "$.version: expected int, got '1'" in r.err


def test_validate_reports_identity_problems_alongside_schema_ones(two):
    path = two.root / "registry/m/v1/metadata.json"
    doc = json.loads(path.read_text())
    doc.update(version=7, stage="nosuch")
    doc["metrics"]["rmse_val"] = "x"
    path.write_text(json.dumps(doc))
    found = Registry(two.root).validate()
    assert any("$.metrics.rmse_val" in p for p in found)
    assert any("$.version: expected 1 (the folder v1), got 7" in p for p in found)
    assert any("$.stage: expected one of the stages" in p for p in found)


def test_stage_must_agree_with_stage_history(two):
    path = two.root / "registry/m/v1/metadata.json"
    doc = json.loads(path.read_text())
    doc["stage"] = "beta"
    path.write_text(json.dumps(doc))
    assert any(
        "$.stage: expected 'development' (where the last stage_history entry moved it), got 'beta'" in p
        for p in Registry(two.root).validate()
    )


def test_reads_refuse_artifact_paths_leaving_the_version_folder(two, cli):
    path = two.root / "registry/m/v1/metadata.json"
    doc = json.loads(path.read_text())
    doc["artifacts"][0]["path"] = "../../../../etc/passwd"
    path.write_text(json.dumps(doc))
    for args in (["resolve", "m/1", "--json"], ["verify", "m@1"]):
        r = cli(two.root, *args)
        assert r.code == 1 and "must stay inside the version folder" in r.err, args


def test_new_version_folders_are_readable_by_others(two):
    mode = stat.S_IMODE(os.stat(two.root / "registry/m/v1").st_mode)
    assert mode == 0o777 & ~_umask()


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_unknown_stage_in_list_is_an_error(two, cli):
    r = cli(two.root, "list", "--stage", "nosuch")
    assert r.code == 1 and "unknown stage 'nosuch'" in r.err


def test_enhancement_base_without_ref_means_latest(two, training):
    out = two.register("m", training(), base="m", enhancement_type="continued")
    assert out.record.lineage.base.version == 2
