import json

import pytest
import yaml

from mlreg.api import Registry
from mlreg.errors import MlregError

from conftest import git
from helpers import world

DEFAULT = {
    "development": {"beta", "archived"},
    "beta": {"development", "champion", "archived"},
    "champion": {"beta", "archived"},
    "archived": {"development", "beta"},
}


def meta(reg, name, n):
    return json.loads((reg.root / f"registry/{name}/v{n}/metadata.json").read_text())


def put_in_stage(reg, name, n, stage):
    """Test set-up: place a version in a stage by a hand edit, committed like a merged PR would be."""
    path = reg.root / f"registry/{name}/v{n}/metadata.json"
    doc = json.loads(path.read_text())
    doc["stage"] = stage
    path.write_text(json.dumps(doc, indent=2) + "\n")
    git(reg.root, "commit", "-qam", f"set {name} v{n} to {stage}")


def snapshot(reg):
    return (
        git(reg.root, "rev-parse", "HEAD"),
        git(reg.root, "ls-files", "-s"),
        git(reg.root, "status", "--porcelain", "--untracked-files=all"),
    )


@world
def one(reg, training):
    """m v1 in development (built once per module, copied per test)."""
    reg.register("m", training())


@pytest.mark.parametrize("src", list(DEFAULT))
@pytest.mark.parametrize("dst", list(DEFAULT))
def test_default_transition_table(one, src, dst):
    reg = one
    if src != "development":
        put_in_stage(reg, "m", 1, src)
    if dst == src:
        with pytest.raises(MlregError, match=f"already in stage '{dst}'"):
            reg.promote("m", "1", dst, "why")
    elif dst in DEFAULT[src]:
        out = reg.promote("m", "1", dst, "why")
        doc = meta(reg, "m", 1)
        assert doc["stage"] == dst
        assert doc["stage_history"][-1] | {"at": None} == {
            "action": "promote",
            "from": src,
            "to": dst,
            "at": None,
            "by": "Test User <test@example.com>",
            "reason": "why",
        }
        assert git(reg.root, "log", "-1", "--format=%H").strip() == out.commit
    else:
        before = snapshot(reg)
        with pytest.raises(MlregError, match=f"{src} -> {dst} is not an allowed transition"):
            reg.promote("m", "1", dst, "why")
        assert snapshot(reg) == before


def test_promote_to_champion_demotes_previous_holder_in_the_same_commit(reg, training, cli):
    for _ in range(2):
        reg.register("m", training())
    for n in (1, 2):
        reg.promote("m", str(n), "beta", "validated")
    reg.promote("m", "1", "champion", "best backtest")
    commits_before = int(git(reg.root, "rev-list", "--count", "HEAD"))
    r = cli(reg.root, "promote", "m@2", "champion", "--reason", "Improved Sharpe ratio by 15%")
    assert r.code == 0, r.err
    assert int(git(reg.root, "rev-list", "--count", "HEAD")) == commits_before + 1
    assert sorted(git(reg.root, "show", "--name-only", "--format=", "HEAD").split()) == [
        "registry/m/v1/metadata.json",
        "registry/m/v2/metadata.json",
    ]
    old, new = meta(reg, "m", 1), meta(reg, "m", 2)
    assert new["stage"] == "champion" and old["stage"] == "archived"
    assert old["stage_history"][-1]["action"] == "demote"
    assert old["stage_history"][-1]["reason"] == "New champion promoted"
    assert old["stage_history"][-1]["at"] == new["stage_history"][-1]["at"]
    assert "Demoted v1 to archived." in git(reg.root, "log", "-1", "--format=%B")
    assert Registry(reg.root).get("m", "champion").record.version == 2
    assert Registry(reg.root).validate() == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["m@1", "production", "--reason", "x"], "unknown stage 'production'"),
        (["m@1", "beta"], "--reason is required"),
        (["m@1", "development", "--reason", "x"], "already in stage 'development'"),
        (["m@1", "champion", "--reason", "x"], "development -> champion is not an allowed transition"),
        (["m@7", "beta", "--reason", "x"], "m: version 7 not found"),
    ],
)
def test_bad_promotions_change_nothing(one, cli, args, message):
    reg = one
    before = snapshot(reg)
    r = cli(reg.root, "promote", *args)
    assert r.code == 1 and message in r.err and "Traceback" not in r.err
    assert snapshot(reg) == before


def init_with(repo_dir, clock, preset=None, settings=None):
    reg = Registry(repo_dir, clock=clock)
    if settings is None:
        reg.init(preset)
    else:
        (repo_dir / "mlreg.yaml").write_text(yaml.safe_dump(settings))
        git(repo_dir, "add", "mlreg.yaml")
        git(repo_dir, "commit", "-qm", "settings")
    return Registry(repo_dir, clock=clock)


def test_candidate_preset_end_to_end(repo_dir, clock, training):
    reg = init_with(repo_dir, clock, "candidate")
    for _ in range(2):
        reg.register("planner_model", training())
    assert meta(reg, "planner_model", 1)["stage"] == "none"
    for n in ("1", "2"):
        reg.promote("planner_model", n, "candidate", "passed offline evaluation")
    reg.promote("planner_model", "1", "production", "serving")
    out = reg.promote("planner_model", "2", "production", "better")
    assert out.demoted == [1] and meta(reg, "planner_model", 1)["stage"] == "archived"
    assert meta(reg, "planner_model", 1)["stage_history"][-1]["reason"] == "New production promoted"
    assert reg.get("planner_model", "production").record.version == 2
    with pytest.raises(MlregError, match="none -> production is not an allowed transition"):
        reg.register("planner_model", training()) and reg.promote("planner_model", "3", "production", "skip")


def test_aliases_preset_uses_aliases_not_stages(repo_dir, clock, training):
    reg = init_with(repo_dir, clock, "aliases")
    reg.register("m", training())
    reg.register("m", training())
    reg.alias_set("m", "Staging", "2")
    reg.alias_set("m", "Production", "1")
    assert reg.get("m", "Production").record.version == 1
    with pytest.raises(MlregError, match="alias 'Canary' is not allowed by mlreg.yaml"):
        reg.alias_set("m", "Canary", "1")
    with pytest.raises(MlregError, match="none -> beta|unknown stage 'beta'"):
        reg.promote("m", "1", "beta", "x")


def test_custom_lifecycle_with_own_names(repo_dir, clock, training):
    settings = {
        "schema_version": 1,
        "lifecycle": {
            "initial": "lab",
            "require_reason": False,
            "stages": {
                "lab": {"to": ["shadow"]},
                "shadow": {"to": ["live", "lab"]},
                "live": {"to": ["retired"], "exclusive": True, "demote_to": "retired", "alias": "live"},
                "retired": {"to": []},
            },
        },
    }
    reg = init_with(repo_dir, clock, settings=settings)
    for _ in range(2):
        reg.register("m", training())
        reg.promote("m", "latest", "shadow")
    reg.promote("m", "1", "live")
    reg.promote("m", "2", "live")
    assert [meta(reg, "m", n)["stage"] for n in (1, 2)] == ["retired", "live"]
    with pytest.raises(MlregError, match="retired -> lab is not an allowed transition"):
        reg.promote("m", "1", "lab")


def test_lifecycle_naming_an_undefined_stage_is_invalid(repo_dir, clock):
    settings = {"schema_version": 1, "lifecycle": {"initial": "a", "stages": {"a": {"to": ["ghost"]}}}}
    reg = init_with(repo_dir, clock, settings=settings)
    assert reg.validate() == ["mlreg.yaml: $.lifecycle.stages.a.to[0]: stage 'ghost' is not defined"]


def test_alias_set_move_and_rm_one_commit_each(reg, training, cli):
    for _ in range(2):
        reg.register("m", training())
    assert cli(reg.root, "alias", "set", "m", "Staging", "1").code == 0
    assert yaml.safe_load((reg.root / "registry/m/model.yaml").read_text())["aliases"] == {"Staging": 1}
    r = cli(reg.root, "alias", "set", "m", "Staging", "v2")
    assert r.code == 0
    assert git(reg.root, "log", "-1", "--format=%s").strip() == "mlreg: alias m Staging -> v2 (was v1)"
    assert git(reg.root, "show", "--name-only", "--format=", "HEAD").split() == ["registry/m/model.yaml"]
    assert reg.get("m", "Staging").record.version == 2
    assert cli(reg.root, "alias", "rm", "m", "Staging").code == 0
    assert yaml.safe_load((reg.root / "registry/m/model.yaml").read_text())["aliases"] == {}
    r = cli(reg.root, "alias", "rm", "m", "Staging")
    assert r.code == 1 and "no alias 'Staging'" in r.err
    assert cli(reg.root, "alias", "set", "m", "latest", "1").code == 1


def test_champion_resolves_as_alias(reg, training):
    reg.register("m", training())
    reg.promote("m", "1", "beta", "ok")
    reg.promote("m", "1", "champion", "ok")
    assert reg.get("m", "champion").record.version == 1


def test_tags_on_model_and_version(reg, training, cli):
    reg.register("m", training())
    assert cli(reg.root, "tag", "set", "m@1", "target_type", "regression").code == 0
    assert cli(reg.root, "tag", "set", "m", "team", "quant").code == 0
    assert meta(reg, "m", 1)["tags"] == {"target_type": "regression"}
    assert yaml.safe_load((reg.root / "registry/m/model.yaml").read_text())["tags"] == {"team": "quant"}
    assert cli(reg.root, "tag", "rm", "m@1", "target_type").code == 0
    assert meta(reg, "m", 1)["tags"] == {}
    r = cli(reg.root, "tag", "rm", "m@1", "target_type")
    assert r.code == 1 and "no tag 'target_type'" in r.err


def test_three_generation_enhancement_chain(reg, training, cli):
    reg.register(
        "rl-1h", training(metrics={"evaluation/best_mean_reward": 100.0, "sharpe": 1.0}, total_timesteps=100000)
    )
    r = cli(
        reg.root,
        "register",
        "rl-1h",
        "--from-dir",
        str(training(metrics={"evaluation/best_mean_reward": 115.72, "sharpe": 1.1}, total_timesteps=150000)),
        "--base",
        "rl-1h@1",
        "--enhancement-type",
        "continued",
    )
    assert r.code == 0, r.err
    reg.register(
        "rl-1h",
        training(metrics={"evaluation/best_mean_reward": 120.0}, total_timesteps=200000),
        base="rl-1h@latest",
        enhancement_type="continued",
    )
    v2, v3 = meta(reg, "rl-1h", 2), meta(reg, "rl-1h", 3)
    assert v2["lineage"]["model_type"] == "continued" and v2["lineage"]["base"] == {"model": "rl-1h", "version": 1}
    assert v2["lineage"]["previous_timesteps"] == 100000 and v2["lineage"]["total_timesteps"] == 150000
    assert v2["metrics"]["improvement_evaluation/best_mean_reward"] == 15.72
    assert v2["metrics"]["improvement_sharpe"] == 10.0
    assert v3["lineage"]["base"] == {"model": "rl-1h", "version": 2}
    assert v3["metrics"]["improvement_evaluation/best_mean_reward"] == pytest.approx(3.6986, abs=1e-4)
    types = {v["version"]: v["version_type"] for v in cli(reg.root, "show", "rl-1h", "--json").json()["versions"]}
    assert types == {1: "old", 2: "old", 3: "latest"}
    assert cli(reg.root, "show", "rl-1h@1", "--json").json()["version_type"] == "old"


def test_enhancing_across_models_marks_the_base_old(reg, training):
    reg.register("base-agent", training())
    reg.register("tuned-agent", training(), base="base-agent@1", enhancement_type="curriculum")
    assert reg.get("base-agent", "1").version_type == "old"
    assert reg.validate() == []


def test_bad_bases_are_clear_errors(reg, training):
    reg.register("m", training())
    with pytest.raises(MlregError, match="m: version 5 not found"):
        reg.register("m", training(), base="m@5")
    with pytest.raises(MlregError, match="model 'ghost' not found"):
        reg.register("m", training(), base="ghost@1")
    with pytest.raises(MlregError, match="--enhancement-type needs --base"):
        reg.register("m", training(), enhancement_type="continued")
    assert not (reg.root / "registry/m/v2").exists()


def test_history_oldest_first_with_commits_and_reasons(reg, training, cli):
    reg.register("m", training())
    reg.register("m", training())
    reg.promote("m", "1", "beta", "validated")
    reg.alias_set("m", "Staging", "1")
    reg.tag_set("m", "1", "k", "v")
    reg.promote("m", "1", "champion", "best")
    reg.promote("m", "2", "beta", "validated too")
    reg.promote("m", "2", "champion", "better")
    events = cli(reg.root, "history", "m", "--json").json()
    got = [(e["action"], e["version"], e["detail"], e["reason"]) for e in events]
    assert got == [
        ("register", 1, "registered in development", "registered"),
        ("register", 2, "registered in development", "registered"),
        ("promote", 1, "development -> beta", "validated"),
        ("alias", 1, "alias m Staging -> v1", None),
        ("tag", 1, "tag set m v1 k=v", None),
        ("promote", 1, "beta -> champion", "best"),
        ("promote", 2, "development -> beta", "validated too"),
        ("promote", 2, "beta -> champion", "better"),
        ("demote", 1, "champion -> archived", "New champion promoted"),
    ]
    log = git(reg.root, "log", "--format=%H", "--", "registry/m").split()
    assert events[-1]["commit"] == events[-2]["commit"] == log[0]
    assert all(e["by"] == "Test User <test@example.com>" for e in events)
    one = cli(reg.root, "history", "m@2", "--json").json()
    assert [e["action"] for e in one] == ["register", "promote", "promote"]


def test_branch_leaves_checkout_untouched(reg, training, cli):
    reg.register("m", training())
    (reg.root / "README.md").write_text("user edit\n")
    before = snapshot(reg)
    branch_before = git(reg.root, "branch", "--show-current")
    r = cli(reg.root, "promote", "m@1", "beta", "--reason", "ready", "--branch", "promote-m-1")
    assert r.code == 0, r.err
    assert "git push -u origin promote-m-1" in r.out
    assert snapshot(reg) == before and git(reg.root, "branch", "--show-current") == branch_before
    assert meta(reg, "m", 1)["stage"] == "development"
    on_branch = json.loads(git(reg.root, "show", "promote-m-1:registry/m/v1/metadata.json"))
    assert on_branch["stage"] == "beta"
    assert git(reg.root, "rev-parse", "promote-m-1~1").strip() == before[0].strip()
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--branch", "new-m")
    assert r.code == 0, r.err
    assert not (reg.root / "registry/m/v2").exists()
    files = git(reg.root, "show", "--name-only", "--format=", "new-m").split()
    assert "registry/m/v2/model.txt" in files
    r = cli(reg.root, "tag", "set", "m@1", "a", "b", "--branch", "new-m")
    assert r.code == 1 and "branch 'new-m' already exists" in r.err


@pytest.mark.parametrize(
    "command",
    [
        lambda r, t: r.register("m", t()),
        lambda r, t: r.promote("m", "1", "beta", "ok"),
        lambda r, t: r.alias_set("m", "Staging", "1"),
        lambda r, t: r.tag_set("m", "1", "k", "v"),
        lambda r, t: r.tag_set("m", None, "k", "v"),
    ],
)
def test_every_command_leaves_unrelated_changes_alone(one, training, command):
    reg = one
    (reg.root / "README.md").write_text("unstaged edit\n")
    (reg.root / "new.txt").write_text("staged\n")
    git(reg.root, "add", "new.txt")
    status = git(reg.root, "status", "--porcelain")
    command(reg, training)
    assert git(reg.root, "status", "--porcelain") == status
    changed = git(reg.root, "show", "--name-only", "--format=", "HEAD").split()
    assert changed and all(p.startswith("registry/m/") for p in changed)


def test_describe_sets_model_description(one, cli):
    reg = one
    assert cli(reg.root, "describe", "m", "Predicts the 7-day log return").code == 0
    assert (
        yaml.safe_load((reg.root / "registry/m/model.yaml").read_text())["description"]
        == "Predicts the 7-day log return"
    )
    assert git(reg.root, "log", "-1", "--format=%s").strip() == "mlreg: describe m"


def test_history_of_unknown_model_is_an_error(reg, cli):
    r = cli(reg.root, "history", "ghost")
    assert r.code == 1 and "model 'ghost' not found" in r.err
