import json
import shutil

import pytest

from mlreg.api import Registry


@pytest.fixture
def two(reg, training):
    reg.register("btc", training())
    reg.register("btc", training())
    return reg


def edit_meta(reg, model, n, fn):
    path = reg.root / f"registry/{model}/v{n}/metadata.json"
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def test_valid_registry_passes(two, cli):
    r = cli(two.root, "validate")
    assert r.code == 0 and "registry is valid" in r.out
    assert cli(two.root, "validate", "--json").json() == {"valid": True, "problems": []}


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (
            lambda r: edit_meta(r, "btc", 2, lambda d: d.update(version=5)),
            "registry/btc/v2/metadata.json: $.version: expected 2 (the folder v2), got 5",
        ),
        (
            lambda r: edit_meta(r, "btc", 1, lambda d: d.update(name="eth")),
            "registry/btc/v1/metadata.json: $.name: expected 'btc' (the model folder), got 'eth'",
        ),
        (
            lambda r: edit_meta(r, "btc", 1, lambda d: d["metrics"].update(rmse_val="bad")),
            "registry/btc/v1/metadata.json: $.metrics.rmse_val: expected a number, got 'bad'",
        ),
        (
            lambda r: edit_meta(r, "btc", 1, lambda d: d.update(stage="prod")),
            "registry/btc/v1/metadata.json: $.stage: expected one of the stages in mlreg.yaml",
        ),
        (
            lambda r: (r.root / "registry/btc/v1/metadata.json").write_text("{oops"),
            "registry/btc/v1/metadata.json: malformed JSON",
        ),
        (
            lambda r: (r.root / "registry/btc/v2/model.txt").write_text("tampered"),
            "registry/btc/v2/metadata.json: $.artifacts[0]: model.txt does not match its recorded sha256/size",
        ),
        (
            lambda r: (r.root / "registry/btc/v2/model.txt").unlink(),
            "registry/btc/v2/metadata.json: $.artifacts[0]: model.txt is recorded but missing",
        ),
        (
            lambda r: (r.root / "registry/btc/v2/extra.bin").write_text("x"),
            "registry/btc/v2/metadata.json: $.artifacts: file extra.bin is in the version folder but not recorded",
        ),
        (
            lambda r: shutil.rmtree(r.root / "registry/btc/v1"),
            "registry/btc: versions must be contiguous from v1; missing v1",
        ),
        (
            lambda r: (r.root / "registry/btc/model.yaml").write_text(
                "schema_version: 1\nname: btc\naliases: {Staging: 9}\n"
            ),
            "registry/btc/model.yaml: $.aliases.Staging: points at v9, which does not exist",
        ),
        (
            lambda r: (r.root / "registry/btc/model.yaml").write_text("schema_version: 1\nname: eth\n"),
            "registry/btc/model.yaml: $.name: expected 'btc' (the folder name), got 'eth'",
        ),
        (
            lambda r: (r.root / "registry/btc/model.yaml").write_text("name: [unclosed\n"),
            "registry/btc/model.yaml: malformed YAML",
        ),
        (
            lambda r: [edit_meta(r, "btc", n, lambda d: d.update(stage="champion")) for n in (1, 2)],
            "registry/btc: stage 'champion' is exclusive but held by v1, v2; expected at most one",
        ),
        (
            lambda r: edit_meta(r, "btc", 1, lambda d: d["lineage"].update(base={"model": "btc", "version": 7})),
            "registry/btc/v1/metadata.json: $.lineage.base: base btc v7 does not exist",
        ),
        (
            lambda r: [
                edit_meta(r, "btc", n, lambda d, o=3 - n: d["lineage"].update(base={"model": "btc", "version": o}))
                for n in (1, 2)
            ],
            "$.lineage.base: lineage forms a cycle",
        ),
        (
            lambda r: (r.root / "mlreg.yaml").write_text(
                "schema_version: 1\nlifecycle:\n  initial: a\n  stages:\n    a: {to: [b]}\n"
            ),
            "mlreg.yaml: $.lifecycle.stages.a.to[0]: stage 'b' is not defined",
        ),
        (
            lambda r: (r.root / "registry/notes.txt").write_text("x"),
            "registry/notes.txt: unexpected file; expected only model folders in registry/",
        ),
        (
            lambda r: edit_meta(r, "btc", 1, lambda d: d.update(schema_version=2)),
            "registry/btc/v1/metadata.json: $.schema_version: file uses schema_version 2",
        ),
    ],
)
def test_each_broken_invariant_is_reported_with_file_and_path(two, cli, breakage, expected):
    breakage(two)
    r = cli(two.root, "validate")
    assert r.code == 1
    assert expected in r.err, r.err
    assert all(line.startswith("Error: ") for line in r.err.splitlines())


def test_every_problem_is_reported_not_just_the_first(two, cli):
    edit_meta(two, "btc", 1, lambda d: d["metrics"].update(a="x"))
    (two.root / "registry/btc/v2/model.txt").write_text("tampered")
    problems = Registry(two.root).validate()
    assert len(problems) == 2


def test_symlinked_artifact_is_refused(two, tmp_path):
    target = tmp_path / "outside.txt"
    target.write_text("tree model 2\n")
    art = two.root / "registry/btc/v2/model.txt"
    art.unlink()
    art.symlink_to(target)
    assert any("no symlinks" in p for p in Registry(two.root).validate())


def test_a_schema_error_does_not_hide_a_second_exclusive_holder(two):
    edit_meta(two, "btc", 2, lambda d: d.update(stage="champion"))
    edit_meta(two, "btc", 1, lambda d: d.update(stage="champion", extra_field=1))
    found = Registry(two.root).validate()
    assert any("unknown field(s) 'extra_field'" in p for p in found)
    assert any("stage 'champion' is exclusive but held by v1, v2" in p for p in found)
