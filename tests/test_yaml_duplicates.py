"""A key given twice in one YAML mapping is refused, as in JSON: a reviewer reads the first copy, PyYAML keeps
the last. mlreg.yaml and model.yaml, in the work tree (validate, writes) and in a pull request (the gate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlreg.core.files import parse_yaml
from mlreg.errors import MlregError

from helpers import git


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def test_duplicate_key_in_mlreg_yaml_is_one_line_naming_file_and_line(reg, cli):
    text = (reg.root / "mlreg.yaml").read_text()
    # a second `champion:` stage lower down would silently replace the first one's rules
    (reg.root / "mlreg.yaml").write_text(text + "schema_version: 1\n")
    line = text.count("\n") + 1
    r = cli(reg.root, "validate")
    assert r.code == 1 and r.err.count("\n") == 1, r.err
    assert f"mlreg.yaml: line {line}: duplicate key 'schema_version'" in r.err


def test_duplicate_key_in_model_yaml_refuses_a_write_and_changes_nothing(reg, training, cli):
    reg.register("m", training())
    model = reg.root / "registry/m/model.yaml"
    model.write_text(model.read_text() + "description: first\ndescription: second\n")
    commit_all(reg.root, "hand edit")
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "describe", "m", "third")
    assert r.code == 1 and "registry/m/model.yaml: line" in r.err and "duplicate key 'description'" in r.err
    assert git(reg.root, "rev-parse", "HEAD") == head


def test_gate_refuses_a_pull_request_with_a_duplicated_settings_key(reg, cli, tmp_path):
    from helpers import origin_and_clone

    work = origin_and_clone(tmp_path, reg.root)
    git(work, "checkout", "-q", "-B", "dup", "origin/main")
    settings = work / "mlreg.yaml"
    settings.write_text(settings.read_text() + "lifecycle:\n  initial: champion\n")
    commit_all(work, "settings")
    r = cli(work, "validate", "--base", "origin/main")
    assert r.code == 1 and "mlreg.yaml: line" in r.err and "duplicate key 'lifecycle'" in r.err, r.err


def test_merge_keys_may_be_overridden_and_nested_mappings_are_checked():
    doc = parse_yaml("base: &b\n  a: 1\n  b: 2\nx:\n  <<: *b\n  a: 3\n", "t.yaml")
    assert doc["x"] == {"a": 3, "b": 2}
    with pytest.raises(MlregError, match=r"^t.yaml: line 3: duplicate key 'a'"):
        parse_yaml("x:\n  a: 1\n  a: 2\n", "t.yaml")
    assert parse_yaml("a: 1\nb: {a: 1}\n", "t.yaml") == {"a": 1, "b": {"a": 1}}
