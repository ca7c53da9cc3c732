"""validate --base: the pull-request flow with real git (bare origin, clone, branches), legal and illegal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mlreg.api import Registry
from mlreg.storage import gitops

from conftest import git, origin_and_clone
from helpers import world


@world
def published(reg, training):
    """A bare origin whose main holds m v1 (champion), v2 (beta), v3 (development), and a clone of it."""
    for rmse in (0.0669, 0.0612, 0.0598):
        reg.register("m", training(metrics={"rmse_val": rmse, "rmse_test": rmse - 0.01}))
    reg.promote("m", "1", "beta", "shadow run looked fine")
    reg.promote("m", "1", "champion", "first champion")
    reg.promote("m", "2", "beta", "candidate for champion")
    origin_and_clone(reg.root.parent, reg.root)


@pytest.fixture
def clone(published) -> Path:
    """This test's copy of the clone (its origin this test's copy too)."""
    return published.root.parent / "work"


def meta(root: Path, n: int, model: str = "m") -> Path:
    return root / f"registry/{model}/v{n}/metadata.json"


def edit(root: Path, n: int, fn, model: str = "m") -> None:
    """Hand-edit a metadata.json the way a person would (json.load, change, json.dump)."""
    doc = json.loads(meta(root, n, model).read_text())
    fn(doc)
    meta(root, n, model).write_text(json.dumps(doc, indent=2) + "\n")


def entry(frm: str, to: str, reason: str | None = "by hand", action: str = "promote") -> dict:
    return {
        "action": action,
        "from": frm,
        "to": to,
        "at": "2025-07-01T09:00:00Z",
        "by": "Hand Editor <h@e>",
        "reason": reason,
    }


def move(doc: dict, to: str, reason: str | None = "by hand", action: str = "promote") -> None:
    doc["stage_history"].append(entry(doc["stage"], to, reason, action))
    doc["stage"] = to


def branch(root: Path, name: str, change) -> None:
    """A branch off origin/main with one hand-made commit, left checked out."""
    git(root, "checkout", "-q", "-b", name, "origin/main")
    change(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"hand edit: {name}")


# -- the legal flow -------------------------------------------------------------------------------
def test_promotion_branch_made_by_mlreg_passes(clone, cli):
    r = cli(clone, "promote", "m@2", "champion", "--reason", "beats v1 on rmse_val", "--branch", "promote-m-v2")
    assert r.code == 0, r.err
    assert "git push -u origin promote-m-v2" in r.out
    assert git(clone, "status", "--porcelain") == ""  # the checkout stayed on main, untouched
    git(clone, "push", "-q", "-u", "origin", "promote-m-v2")
    git(clone, "fetch", "-q")

    # the reviewer's / CI's view: the branch checked out, compared with the base branch
    git(clone, "checkout", "-q", "promote-m-v2")
    r = cli(clone, "validate", "--base", "origin/main")
    assert r.code == 0, r.err
    assert "registry is valid" in r.out
    assert json.loads(meta(clone, 2).read_text())["stage"] == "champion"
    assert json.loads(meta(clone, 1).read_text())["stage"] == "archived"

    # the same check without a checkout: HEAD given as a ref
    git(clone, "checkout", "-q", "main")
    r = cli(clone, "validate", "--base", "origin/main", "--head", "origin/promote-m-v2", "--json")
    assert r.code == 0 and r.json() == {"valid": True, "problems": []}


def test_legal_hand_edits_pass(clone, cli):
    def change(root):
        edit(root, 2, lambda d: (move(d, "champion", "hand promotion"), d["tags"].update(reviewed="yes")))
        edit(root, 1, lambda d: move(d, "archived", "New champion promoted", "demote"))
        model = root / "registry/m/model.yaml"
        model.write_text(
            model.read_text()
            .replace("description: ''", "description: BTC 1h regression")
            .replace("aliases: {}", "aliases:\n  prod: 2")
        )

    branch(clone, "hand-promotion", change)
    r = cli(clone, "validate", "--base", "origin/main")
    assert r.code == 0, r.err
    assert cli(clone, "validate", "--base", "origin/main", "--head", "HEAD").code == 0


def test_new_version_and_next_step_pass(clone, cli, training):
    git(clone, "checkout", "-q", "-b", "new-version")
    assert cli(clone, "register", "m", "--from-dir", str(training())).code == 0
    assert cli(clone, "promote", "m@3", "beta", "--reason", "looks good").code == 0
    r = cli(clone, "validate", "--base", "origin/main", "--head", "HEAD")
    assert r.code == 0, r.err
    assert gitops.listing(clone, "HEAD")["registry/m/v4/model.txt"].mode == "100644"


# -- illegal edits, each refused with file and JSON path --------------------------------------------
def _metric(root):
    edit(root, 1, lambda d: d["metrics"].update(rmse_val=0.01))


def _digest(root):
    edit(root, 2, lambda d: d["artifacts"][0].update(sha256="0" * 64))


def _deleted(root):
    shutil.rmtree(root / "registry/m/v2")


def _jump(root):
    edit(root, 3, lambda d: move(d, "champion", "skip beta"))
    edit(root, 1, lambda d: move(d, "archived", "New champion promoted", "demote"))


def _two_champions(root):
    edit(root, 2, lambda d: move(d, "champion", "second champion"))


def _renumbered(root):
    (root / "registry/m/v3").rename(root / "registry/m/v4")


def _schema_field(root):
    edit(root, 1, lambda d: d.update(owner="someone"))


def _history_rewritten(root):
    edit(root, 1, lambda d: d["stage_history"][1].update(reason="a better story"))


def _silent_stage(root):
    edit(root, 2, lambda d: d.update(stage="development"))


def _new_champion_by_hand(root):
    shutil.copytree(root / "registry/m/v3", root / "registry/m/v4")
    edit(root, 4, lambda d: (d.update(version=4), move(d, "champion", "straight to the top")))
    edit(root, 1, lambda d: move(d, "archived", "New champion promoted", "demote"))


def _corrupted(root):
    meta(root, 1).write_text("{bad\n")


def _record_deleted(root):  # the folder and its artifacts stay
    meta(root, 2).unlink()


def _model_yaml_unreadable(root):
    (root / "registry/m/model.yaml").write_text("- m\n")


def _settings_unreadable(root):
    (root / "mlreg.yaml").write_text("lifecycle: [\n")


IMMUTABLE = "only stage, stage_history (appended) and tags may change"
CASES = {
    "metric-changed": (
        _metric,
        [
            "registry/m/v1/metadata.json: $.metrics.rmse_val: immutable field of committed version m v1 "
            f"changed (0.0669 -> 0.01); {IMMUTABLE}"
        ],
    ),
    "digest-changed": (
        _digest,
        ["registry/m/v2/metadata.json: $.artifacts[0].sha256: immutable field of committed version m v2 changed ("],
    ),
    "version-deleted": (
        _deleted,
        ["registry/m/v2/metadata.json: committed version m v2 was deleted; versions are never removed or reused"],
    ),
    "stage-jumped": (
        _jump,
        [
            "registry/m/v3/metadata.json: $.stage: development -> champion is not an allowed transition; "
            "from development a version may move to: beta, archived"
        ],
    ),
    "two-champions": (
        _two_champions,
        ["registry/m: stage 'champion' is exclusive but held by v1, v2; expected at most one"],
    ),
    "renumbered": (
        _renumbered,
        [
            "registry/m/v4/metadata.json: m v3 was renumbered to v4; committed version numbers never change",
            "registry/m/v4/metadata.json: $.version: expected 4 (the folder v4), got 3",
        ],
    ),
    "schema-breaking-field": (
        _schema_field,
        [
            "registry/m/v1/metadata.json: $: unknown field(s) 'owner'",
            "registry/m/v1/metadata.json: $.owner: immutable field of committed version m v1 changed "
            '(absent -> "someone")',
        ],
    ),
    "history-rewritten": (
        _history_rewritten,
        ["registry/m/v1/metadata.json: $.stage_history[1]: stage_history of m v1 was rewritten"],
    ),
    "stage-without-history": (
        _silent_stage,
        [
            "registry/m/v2/metadata.json: $.stage_history: stage changed beta -> development but no new "
            "stage_history entry records it"
        ],
    ),
    "new-version-straight-to-champion": (
        _new_champion_by_hand,
        [
            "registry/m/v4/metadata.json: $.stage: new version arrives in stage 'champion': development -> champion "
            "is not an allowed transition"
        ],
    ),
    # files made unreadable: plain validate names the broken file, the comparison names the change
    "record-corrupted": (
        _corrupted,
        [
            "registry/m/v1/metadata.json: malformed JSON: ",
            "registry/m/v1/metadata.json: the record of committed version m v1 was made unreadable (malformed JSON: ",
        ],
    ),
    "record-deleted": (
        _record_deleted,
        [
            "registry/m/v2/metadata.json: file not found",
            "registry/m/v2/metadata.json: the record of committed version m v2 was deleted; "
            "committed versions are immutable and never removed",
        ],
    ),
    "model-yaml-unreadable": (
        _model_yaml_unreadable,
        [
            "registry/m/model.yaml: $: expected an object",
            "registry/m/model.yaml: the model file of m was made unreadable (expected a mapping, got a list)",
        ],
    ),
    "settings-unreadable": (
        _settings_unreadable,
        [
            "mlreg.yaml: malformed YAML: ",
            "mlreg.yaml: the registry settings file was made unreadable (malformed YAML: ",
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_illegal_edit_is_refused(clone, cli, case):
    change, expected = CASES[case]
    branch(clone, case, change)
    assert cli(clone, "validate").code == (0 if case in PLAIN_VALID else 1)

    for args in (("--base", "origin/main"), ("--base", "origin/main", "--head", case)):
        r = cli(clone, "validate", *args)
        assert r.code == 1, (args, r.out)
        for text in expected:
            assert f"Error: {text}" in r.err, (args, r.err)
        problems = cli(clone, "validate", *args, "--json").json()["problems"]
        assert all(any(p.startswith(t) for p in problems) for t in expected)

    # the base branch itself still validates: the refusal is about the change
    git(clone, "checkout", "-q", "main")
    assert cli(clone, "validate", "--base", "origin/main").code == 0


# hand edits that plain `validate` cannot see: only the comparison with the base refuses them
PLAIN_VALID = {"metric-changed", "stage-jumped", "history-rewritten", "new-version-straight-to-champion"}


def test_replaced_artifact_is_refused_in_both_modes(clone, cli):
    branch(clone, "swap-model", lambda root: (root / "registry/m/v1/model.txt").write_text("another model\n"))
    r = cli(clone, "validate", "--base", "origin/main")  # work tree: the digest no longer matches
    assert r.code == 1
    assert (
        "Error: registry/m/v1/metadata.json: $.artifacts[0]: model.txt does not match its recorded sha256/size" in r.err
    )
    r = cli(clone, "validate", "--base", "origin/main", "--head", "swap-model")  # a ref: the git blob changed
    assert r.code == 1
    assert (
        "Error: registry/m/v1/model.txt: file changed in committed version m v1; committed artifacts are immutable"
        in r.err
    )


def test_every_problem_is_reported_not_just_the_first(clone, cli):
    branch(clone, "many", lambda root: (_metric(root), _deleted(root), _schema_field(root)))
    problems = cli(clone, "validate", "--base", "origin/main", "--json").json()["problems"]
    assert any("$.metrics.rmse_val" in p for p in problems)
    assert any("m v2 was deleted" in p for p in problems)
    assert any("unknown field(s) 'owner'" in p for p in problems)


def test_transitions_are_judged_by_the_base_lifecycle(clone, cli):
    def change(root):  # loosen the lifecycle and use the loophole in the same change
        doc = yaml.safe_load((root / "mlreg.yaml").read_text())
        doc["lifecycle"]["stages"]["development"]["to"].append("champion")
        (root / "mlreg.yaml").write_text(yaml.safe_dump(doc))
        _jump(root)

    branch(clone, "loophole", change)
    assert "champion" in Registry(clone).settings.stages["development"].to
    assert cli(clone, "validate").code == 0
    r = cli(clone, "validate", "--base", "origin/main")
    assert r.code == 1 and "development -> champion is not an allowed transition" in r.err


def test_bad_refs_and_usage(clone, cli):
    r = cli(clone, "validate", "--base", "origin/nope")
    assert r.code == 1 and "Error: unknown git ref 'origin/nope'" in r.err and "Traceback" not in r.err
    r = cli(clone, "validate", "--head", "main")
    assert r.code == 2 and "--head needs --base" in r.err


def test_trees_are_read_with_metadata_only(clone, tmp_path):
    from mlreg.ops.gate import Side, _Reader

    read = _Reader(clone, tmp_path).read(Side("origin/main", None, "origin/main"), None)
    tree = read.registry.root
    assert (tree / "registry/m/v1/metadata.json").read_bytes() == meta(clone, 1).read_bytes()
    assert (tree / "mlreg.yaml").read_bytes() == (clone / "mlreg.yaml").read_bytes()
    assert (tree / "registry/m/v1/model.txt").read_bytes() == b""  # a placeholder, never read
    oid = git(clone, "rev-parse", "origin/main:registry/m/v1/model.txt").strip()
    assert read.files["registry/m/v1/model.txt"].oid == read.state.blobs["registry/m/v1/model.txt"] == oid
    assert "README.md" not in read.files


def test_default_branch_and_merge_base(clone):
    assert gitops.default_branch(clone) == "origin/main"
    git(clone, "remote", "set-head", "origin", "-d")
    assert gitops.default_branch(clone) == "origin/main"
    git(clone, "checkout", "-q", "-b", "topic")
    (clone / "x.txt").write_text("x")
    git(clone, "add", "x.txt")
    git(clone, "commit", "-q", "-m", "x")
    assert gitops.merge_base(clone, "origin/main", "HEAD") == git(clone, "rev-parse", "origin/main").strip()
