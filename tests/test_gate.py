"""The pull-request gate cannot be bypassed (issue 11): every case with real git, a bare origin and clones.

Symlink forgery, rules from the PR's own mlreg.yaml, two parallel champion pull requests, a branch behind
main, a range over merged pull requests, rollback (allowed, forged, turned off) and two holders of an
exclusive stage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from mlreg.api import Registry

from conftest import git, origin_and_clone
from helpers import world


def meta(root: Path, n: int, model: str = "m") -> Path:
    return root / f"registry/{model}/v{n}/metadata.json"


def doc_of(root: Path, n: int, model: str = "m") -> dict:
    return json.loads(meta(root, n, model).read_text())


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def pr_branch(work: Path, name: str) -> None:
    git(work, "checkout", "-q", "-B", name, "origin/main")


def merge_pr(work: Path, name: str) -> None:
    """Merge a pull request on GitHub: a merge commit on main, pushed."""
    git(work, "fetch", "-q")
    git(work, "checkout", "-q", "-B", "main", "origin/main")
    git(work, "merge", "-q", "--no-ff", "-m", f"Merge pull request from {name}", f"origin/{name}")
    git(work, "push", "-q", "origin", "main")
    git(work, "fetch", "-q")


@world
def published(reg, training) -> None:
    """m v1 (champion, rmse_val 0.5), v2 and v3 (beta), published as a bare origin and cloned: built once per
    module, copied per test (the clone's remote is the copied origin)."""
    reg.register("m", training(metrics={"rmse_val": 0.5}))
    reg.register("m", training(metrics={"rmse_val": 0.45}))
    reg.register("m", training(metrics={"rmse_val": 0.44}))
    for n in (1, 2, 3):
        reg.promote("m", str(n), "beta", "shadow run looked fine")
    reg.promote("m", "1", "champion", "first champion")
    origin_and_clone(reg.root.parent, reg.root)


@pytest.fixture
def work(published) -> Path:
    """A clone of a bare origin whose main holds m v1 (champion, rmse_val 0.5), v2 and v3 (beta)."""
    return published.root.parent / "work"


def validate(cli, root: Path, *args: str):
    return cli(root, "validate", "--base", "origin/main", *args)


# -- symlinks -------------------------------------------------------------------------------------------
def test_two_pr_symlink_forgery_is_refused(work, cli):
    # PR 1: move v1's record out of registry/ and leave a symlink in its place
    pr_branch(work, "move-record")
    (work / "docs").mkdir()
    git(work, "mv", "registry/m/v1/metadata.json", "docs/m-v1.json")
    os.symlink("../../../docs/m-v1.json", meta(work, 1))
    commit_all(work, "tidy: keep the record in docs/")
    for args in ((), ("--head", "HEAD")):
        r = validate(cli, work, *args)
        assert r.code == 1, r.out
        assert (
            "Error: registry/m/v1/metadata.json: is a symbolic link (to ../../../docs/m-v1.json); nothing under "
            "registry/ and no mlreg.yaml may be a symlink"
        ) in r.err
    r = cli(work, "diff", "origin/main")
    assert "No registry changes." not in r.out and "is a symbolic link" in r.out
    assert cli(work, "validate").code == 1  # plain validate of the working tree sees it too

    # suppose PR 1 landed anyway (before the gate existed); PR 2 edits only the file outside registry/
    git(work, "push", "-q", "origin", "HEAD:main")
    pr_branch(work, "forge-metric")
    forged = json.loads((work / "docs/m-v1.json").read_text())
    forged["metrics"]["rmse_val"] = 0.0001
    (work / "docs/m-v1.json").write_text(json.dumps(forged, indent=2))
    commit_all(work, "docs: typo")
    r = validate(cli, work)
    assert r.code == 1 and "registry/m/v1/metadata.json: is a symbolic link" in r.err
    assert "is a symbolic link" in cli(work, "diff", "origin/main").out
    # and reads never follow the link: show reports the problem instead of the forged metric
    r = cli(work, "show", "m@champion")
    assert r.code == 1 and "registry/m/v1/metadata.json: is a symbolic link" in r.err and "0.0001" not in r.out


def test_model_yaml_symlinked_outside_the_repo_is_refused(work, cli, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text((work / "registry/m/model.yaml").read_text())
    pr_branch(work, "link-model")
    (work / "registry/m/model.yaml").unlink()
    os.symlink(outside, work / "registry/m/model.yaml")
    commit_all(work, "share model.yaml")
    r = validate(cli, work)
    assert r.code == 1 and f"registry/m/model.yaml: is a symbolic link (to {outside})" in r.err
    assert f"registry/m/model.yaml: is a symbolic link (to {outside})" in cli(work, "validate").err
    # the aliases could now move with no registry commit: reads refuse to follow the link
    outside.write_text(outside.read_text().replace("aliases: {}", "aliases:\n  prod: 3"))
    r = cli(work, "resolve", "m@prod")
    assert r.code == 1 and "registry/m/model.yaml: is a symbolic link" in r.err


def test_symlinked_version_folder_and_settings_are_refused(work, cli, tmp_path):
    pr_branch(work, "links")
    os.symlink("v1", work / "registry/m/v9")
    (tmp_path / "mlreg.yaml").write_text((work / "mlreg.yaml").read_text())
    (work / "mlreg.yaml").unlink()
    os.symlink(tmp_path / "mlreg.yaml", work / "mlreg.yaml")
    r = validate(cli, work)  # uncommitted: the working tree is read exactly as a commit would be
    assert r.code == 1
    assert "registry/m/v9: is a symbolic link (to v1)" in r.err
    assert f"mlreg.yaml: is a symbolic link (to {tmp_path / 'mlreg.yaml'})" in r.err


# -- the base's rules -----------------------------------------------------------------------------------
def _loosen_champion(root: Path) -> None:
    doc = yaml.safe_load((root / "mlreg.yaml").read_text())
    doc["lifecycle"]["stages"]["champion"]["exclusive"] = False
    (root / "mlreg.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_exclusivity_flip_in_the_same_pr_is_refused(work, cli):
    pr_branch(work, "two-champions")
    _loosen_champion(work)
    commit_all(work, "champion is not exclusive any more")
    assert cli(work, "promote", "m@2", "champion", "--reason", "a second champion").code == 0
    assert json.loads(meta(work, 1).read_text())["stage"] == "champion"  # the PR's own rules kept v1
    assert cli(work, "validate").code == 0  # by the PR's own mlreg.yaml all is well
    r = validate(cli, work)
    assert r.code == 1
    assert "Error: registry/m: stage 'champion' is exclusive but held by v1, v2; expected at most one" in r.err
    assert (
        "mlreg.yaml: $.lifecycle: the lifecycle changes in the same change that moves stages (m v2 beta -> champion)"
    ) in r.err
    assert "mlreg.yaml changed: lifecycle" in cli(work, "diff", "origin/main").out


def test_a_lifecycle_change_on_its_own_passes_and_is_reported(work, cli):
    pr_branch(work, "settings")
    _loosen_champion(work)
    commit_all(work, "champion is not exclusive any more")
    r = validate(cli, work)
    assert r.code == 0, r.err
    doc = cli(work, "diff", "origin/main", "--json").json()
    assert [c["kind"] for c in doc["changes"]] == ["settings_changed"] and doc["changes"][0]["keys"] == ["lifecycle"]


# -- what lands: the merge into the base's current tip -----------------------------------------------------
def test_second_of_two_parallel_champion_prs_is_refused(tmp_path, reg, training, cli):
    reg.register("m", training())
    reg.register("m", training())
    reg.promote("m", "1", "beta", "ok")
    reg.promote("m", "2", "beta", "ok")
    work = origin_and_clone(tmp_path, reg.root)
    for n in (1, 2):
        assert cli(work, "promote", f"m@{n}", "champion", "--reason", f"v{n}", "--branch", f"pr-{n}").code == 0
        git(work, "push", "-q", "origin", f"pr-{n}")
    for n in (1, 2):  # each passes against main as it is
        git(work, "checkout", "-q", f"pr-{n}")
        assert validate(cli, work).code == 0
    merge_pr(work, "pr-1")
    git(work, "checkout", "-q", "pr-2")
    r = validate(cli, work)  # the branch itself is unchanged; main moved
    assert r.code == 1
    assert "registry/m: stage 'champion' is exclusive but held by v1, v2; expected at most one" in r.err
    r = cli(work, "validate", "--base", "origin/main", "--head", "origin/pr-2")
    assert r.code == 1 and "held by v1, v2" in r.err
    assert git(work, "status", "--porcelain") == ""  # computed without touching the checkout


def test_conflicting_prs_are_refused_with_the_file(work, cli):
    for n, owner in ((2, "alice"), (3, "bob")):
        assert cli(work, "tag", "set", "m@1", "owner", owner, "--branch", f"pr-{n}").code == 0
        git(work, "push", "-q", "origin", f"pr-{n}")
    merge_pr(work, "pr-2")
    r = cli(work, "validate", "--base", "origin/main", "--head", "origin/pr-3")
    assert r.code == 1
    assert (
        "registry/m/v1/metadata.json: the change does not merge cleanly into origin/main (both edited this file)"
    ) in r.err


def test_a_branch_behind_main_is_not_refused(work, cli, training):
    assert cli(work, "promote", "m@2", "development", "--reason", "more work", "--branch", "old-pr").code == 0
    git(work, "push", "-q", "origin", "old-pr")
    assert cli(work, "register", "m", "--from-dir", str(training())).code == 0  # main gains v4 meanwhile
    git(work, "push", "-q", "origin", "main")
    git(work, "fetch", "-q")
    git(work, "checkout", "-q", "old-pr")
    assert not meta(work, 4).exists()
    for args in ((), ("--head", "HEAD")):
        r = validate(cli, work, *args)
        assert r.code == 0, r.err
        assert "registry is valid" in r.out
    out = cli(work, "diff", "origin/main").out
    assert "m v2 demoted beta -> development" in out or "m v2 moved beta -> development" in out
    assert "v4" not in out and "Refused" not in out


def test_range_over_three_merged_prs_reports_each_change_once(work, cli, training):
    start = git(work, "rev-parse", "origin/main").strip()
    git(work, "checkout", "-q", "-b", "pr-register")
    assert cli(work, "register", "m", "--from-dir", str(training())).code == 0
    git(work, "push", "-q", "origin", "pr-register")
    merge_pr(work, "pr-register")
    for branch, stage in (("pr-beta", "beta"), ("pr-champion", "champion")):
        assert cli(work, "promote", "m@4", stage, "--reason", f"v4 to {stage}", "--branch", branch).code == 0
        git(work, "push", "-q", "origin", branch)
        merge_pr(work, branch)
    r = cli(work, "diff", start, "origin/main")
    assert r.code == 0
    assert "Refused" not in r.out and "NOT ALLOWED" not in r.out
    assert r.out.count("m v4 in development") == 1
    assert r.out.count('m v4 promoted development -> beta: "v4 to beta"') == 1
    assert r.out.count('m v4 promoted beta -> champion: "v4 to champion"') == 1
    assert r.out.count('m v1 demoted champion -> archived: "New champion promoted"') == 1
    doc = cli(work, "diff", start, "origin/main", "--json").json()
    assert doc["problems"] == [] and [c["kind"] for c in doc["changes"]] == [
        "version_added",
        "stage_changed",
        "stage_changed",
        "stage_changed",
    ]


# -- rollback -------------------------------------------------------------------------------------------
@pytest.fixture
def promoted(work, cli) -> Path:
    """main: v1 champion, then v2 champion (v1 archived), v3 in beta (never champion)."""
    assert cli(work, "promote", "m@2", "champion", "--reason", "v2 is better").code == 0
    git(work, "push", "-q", "origin", "main")
    git(work, "fetch", "-q")
    return work


def test_rollback_on_a_branch_is_one_commit_and_passes_the_gate(promoted, cli):
    work = promoted
    r = cli(work, "rollback", "m", "--reason", "v2 misbehaves in production", "--branch", "rollback-m")
    assert r.code == 0, r.err
    assert "rollback: m v1: committed" in r.out and "demoted m v2 (rolled back to v1)" in r.out
    assert git(work, "status", "--porcelain") == "" and doc_of(work, 1)["stage"] == "archived"
    assert git(work, "rev-list", "--count", "main..rollback-m").strip() == "1"
    msg = git(work, "log", "-1", "--format=%B", "rollback-m")
    assert msg.startswith("mlreg: rollback m champion to v1 (was v2)") and "Mlreg-Action: rollback" in msg
    git(work, "push", "-q", "origin", "rollback-m")
    r = cli(work, "validate", "--base", "origin/main", "--head", "origin/rollback-m")
    assert r.code == 0, r.err
    git(work, "checkout", "-q", "rollback-m")
    v1, v2 = doc_of(work, 1), doc_of(work, 2)
    assert v1["stage"] == "champion" and v1["stage_history"][-1]["action"] == "rollback"
    assert (
        v1["stage_history"][-1]["from"] == "archived"
        and v1["stage_history"][-1]["reason"] == "v2 misbehaves in production"
    )
    assert v2["stage"] == "archived" and v2["stage_history"][-1]["action"] == "demote"
    assert cli(work, "validate").code == 0
    assert cli(work, "resolve", "m@champion", "--json").json()["version"] == 1
    out = cli(work, "diff", "origin/main").out
    assert "m v1 rolled back archived -> champion" in out and "Refused" not in out
    assert [e["action"] for e in cli(work, "history", "m@1", "--json").json()][-1] == "rollback"


def test_rollback_to_a_named_version_and_refusals(promoted, cli):
    work = promoted
    r = cli(work, "rollback", "m", "--to", "3", "--reason", "try v3")
    assert r.code == 1 and "m v3 never held stage 'champion'" in r.err
    r = cli(work, "rollback", "m", "--to", "2", "--reason", "x")
    assert r.code == 1 and "m v2 already holds stage 'champion'" in r.err
    r = cli(work, "rollback", "m")
    assert r.code == 1 and "--reason is required" in r.err
    head = git(work, "rev-parse", "HEAD")
    r = cli(work, "rollback", "m", "--to", "v1", "--reason", "back to v1", "--json")
    assert r.code == 0 and r.json()["version"] == 1 and r.json()["demoted"] == [2]
    assert git(work, "rev-parse", "HEAD^") == head  # one commit


def test_forged_rollback_is_refused(promoted, cli):
    work = promoted
    pr_branch(work, "forged")
    at, by = "2025-07-01T09:00:00Z", "Hand Editor <h@e>"
    v3, v2 = doc_of(work, 3), doc_of(work, 2)
    # a fake earlier champion entry, then the "rollback": the base's history of v3 has neither
    v3["stage_history"] += [
        {"action": "promote", "from": "beta", "to": "champion", "at": at, "by": by, "reason": "x"},
        {"action": "demote", "from": "champion", "to": "archived", "at": at, "by": by, "reason": "x"},
        {"action": "rollback", "from": "archived", "to": "champion", "at": at, "by": by, "reason": "roll back"},
    ]
    v3["stage"] = "champion"
    v2["stage_history"].append(
        {"action": "demote", "from": "champion", "to": "archived", "at": at, "by": by, "reason": "Rolled back"}
    )
    v2["stage"] = "archived"
    meta(work, 3).write_text(json.dumps(v3, indent=2))
    meta(work, 2).write_text(json.dumps(v2, indent=2))
    commit_all(work, "roll back to v3")
    r = validate(cli, work)
    assert r.code == 1
    assert (
        "registry/m/v3/metadata.json: $.stage: rollback to 'champion' refused: v3 never held stage 'champion' "
        "before (by its committed stage_history)"
    ) in r.err


def test_rollback_turned_off(promoted, cli):
    work = promoted
    doc = yaml.safe_load((work / "mlreg.yaml").read_text())
    doc["lifecycle"]["rollback"] = False
    (work / "mlreg.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    commit_all(work, "no rollbacks here")
    git(work, "push", "-q", "origin", "main")
    git(work, "fetch", "-q")
    assert cli(work, "validate").code == 0  # the schema knows the setting
    r = cli(work, "rollback", "m", "--reason", "x")
    assert r.code == 1 and "rollback is turned off in mlreg.yaml (lifecycle.rollback: false)" in r.err
    # a rollback made where it was still on is refused by the base's settings
    _turn_rollback_on_and_roll_back(work, cli)
    r = validate(cli, work, "--head", "rb")
    assert r.code == 1 and "rollback is turned off (mlreg.yaml lifecycle.rollback: false)" in r.err


def _turn_rollback_on_and_roll_back(work: Path, cli) -> None:
    git(work, "checkout", "-q", "-b", "rb-base", "origin/main")
    doc = yaml.safe_load((work / "mlreg.yaml").read_text())
    doc["lifecycle"]["rollback"] = True
    (work / "mlreg.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    commit_all(work, "rollbacks on (locally)")
    assert cli(work, "rollback", "m", "--reason", "x", "--branch", "rb-tmp").code == 0
    # the rollback commit alone, on top of main (mlreg.yaml as main has it)
    git(work, "checkout", "-q", "-b", "rb", "origin/main")
    git(work, "checkout", "-q", "rb-tmp", "--", "registry")
    commit_all(work, "rollback")


# -- two holders ----------------------------------------------------------------------------------------
def test_two_holders_make_resolve_show_and_find_an_error(work, cli):
    v2 = doc_of(work, 2)
    v2["stage_history"].append(
        {
            "action": "promote",
            "from": "beta",
            "to": "champion",
            "at": "2025-07-01T09:00:00Z",
            "by": "Hand Editor <h@e>",
            "reason": "by hand",
        }
    )
    v2["stage"] = "champion"
    meta(work, 2).write_text(json.dumps(v2, indent=2))
    commit_all(work, "a second champion by hand")
    expected = "m@champion: stage 'champion' is exclusive but held by v1, v2; refusing to pick one"
    for args in (
        ("resolve", "m@champion"),
        ("show", "m@champion"),
        ("resolve", "models:/m@champion"),
        ("find", "stage", "champion"),
    ):
        r = cli(work, *args)
        assert r.code == 1 and expected in r.err, args
    with pytest.raises(Exception, match="held by v1, v2"):
        Registry(work).resolve("m@champion")


def test_gate_on_a_registry_in_a_folder_of_the_repository(repo_dir, clock, training, cli):
    sub = repo_dir / "models"
    sub.mkdir()
    reg = Registry(sub, clock=clock)
    reg.init()
    reg.register("m", training())
    reg.promote("m", "1", "beta", "ok")
    reg.promote("m", "1", "champion", "ok")
    reg.register("m", training())
    reg.promote("m", "2", "beta", "ok")
    assert reg.promote("m", "2", "champion", "better", branch="pr").branch == "pr"
    r = cli(sub, "validate", "--base", "main", "--head", "pr")
    assert r.code == 0, r.err
    doc = cli(sub, "diff", "main", "pr", "--json").json()
    assert {(c["kind"], c.get("version")) for c in doc["changes"]} == {("stage_changed", 1), ("stage_changed", 2)}
    os.symlink("v1", sub / "registry/m/v9")
    r = cli(sub, "validate", "--base", "main")
    assert r.code == 1 and "registry/m/v9: is a symbolic link (to v1)" in r.err
