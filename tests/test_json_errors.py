"""Pathological JSON is one line naming the file: deep nesting (no RecursionError) and numbers out of range
(wherever they are, not only in metrics)."""

from __future__ import annotations

import pytest

from mlreg.api import Registry


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"run_name": "r", "params": {"a": ' + deep(100_000) + "}}", "malformed JSON: nested too deeply"),
        (
            '{"run_name": "r",\n "params": {"lr": 1e400}}',
            "run_metadata.json: $.params.lr: 1e400 is not a finite number; expected a finite number (only metrics may "
            "be NaN or Infinity: register leaves those out)",
        ),
        ('{"run_name": "r", "total_timesteps": -Infinity}', "$.total_timesteps: -Infinity is not a finite number"),
        ('{"run_name": "r", "params": {"a": [1, {"b": NaN}]}}', "$.params.a[1].b: NaN is not a finite number"),
    ],
)
def test_register_names_the_file_and_the_problem(reg, tmp_path, cli, content, expected):
    src = tmp_path / "run"
    src.mkdir()
    (src / "run_metadata.json").write_text(content)
    (src / "model.txt").write_text("m")
    r = cli(reg.root, "register", "m", "--from-dir", str(src))
    assert r.code == 1 and r.err.count("\n") == 1 and "unexpected" not in r.err
    assert "run_metadata.json" in r.err and expected in r.err
    assert "metrics must be finite" not in r.err


def test_reads_and_validate_of_a_deeply_nested_record(reg, training, cli):
    reg.register("m", training())
    path = reg.root / "registry/m/v1/metadata.json"
    path.write_text('{"tags": ' + deep(50_000) + "}")
    for args in (["show", "m@1"], ["list", "--versions"], ["validate"]):
        r = cli(reg.root, *args)
        assert r.code == 1 and "unexpected" not in r.err, (args, r.err)
        assert "registry/m/v1/metadata.json: malformed JSON: nested too deeply" in r.err, (args, r.err)
    (reg.root / "registry/m/model.yaml").write_text("aliases: " + deep(50_000) + "\n")
    r = cli(reg.root, "show", "m")
    assert r.code == 1 and "registry/m/model.yaml: malformed YAML" in r.err and "unexpected" not in r.err
    assert Registry(reg.root).validate()
