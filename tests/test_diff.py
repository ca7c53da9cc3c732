"""mlreg diff: every kind of registry change, in words, as text, markdown and JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import git
from helpers import world


def edit_yaml(path: Path, fn) -> None:
    doc = yaml.safe_load(path.read_text())
    fn(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@world
def storied(reg, training):
    """`base`: m v1 champion, v2 beta, v3 development; then a change of every kind, committed."""
    for rmse in (0.0669, 0.0612, 0.0598):
        reg.register("m", training(metrics={"rmse_train": 0.05, "rmse_val": rmse, "rmse_test": 0.0448}))
    reg.promote("m", "1", "beta", "shadow run looked fine")
    reg.promote("m", "1", "champion", "first champion")
    reg.promote("m", "2", "beta", "candidate")
    reg.alias_set("m", "prod", "1")
    reg.alias_set("m", "old", "1")
    reg.tag_set("m", None, "team", "quant")
    reg.tag_set("m", "1", "reviewed", "no")
    git(reg.root, "tag", "base")

    rl = dict(model_type="ppo", primary_metric="reward", target="reward", objective="ppo")
    reg.register("rl-agent", training(metrics={"evaluation/best_mean_reward": 10.0}, total_timesteps=100000, **rl))
    reg.register(
        "rl-agent",
        training(metrics={"evaluation/best_mean_reward": 12.5}, **rl),
        base="rl-agent@1",
        enhancement_type="continued",
        description="200k more steps",
    )
    reg.register(
        "m",
        training(metrics={"rmse_train": 0.049, "rmse_val": 0.0577, "rmse_test": 0.0431}),
        description="Trained 2023-2025 data",
    )
    reg.promote("m", "2", "champion", "beats v1 on rmse_val")
    reg.promote("m", "3", "beta", "worth a shadow run")
    reg.alias_set("m", "prod", "2")
    reg.alias_set("m", "staging", "3")
    reg.alias_rm("m", "old")
    reg.tag_set("m", "1", "reviewed", "yes")
    reg.tag_set("m", "2", "owner", "alice")
    reg.tag_set("m", None, "team", None)
    edit_yaml(reg.root / "registry/m/model.yaml", lambda d: d.update(description="BTC 1h log-return regression"))
    edit_yaml(reg.root / "mlreg.yaml", lambda d: d.update(mlflow={"tracking_uri": "http://mlflow.internal:5000"}))
    commit_all(reg.root, "describe m, point at the team's MLflow")


@pytest.fixture
def story(storied) -> Path:
    """This test's copy of the story's repository."""
    return storied.root


@world
def three(reg, training):
    """m v1, v2, v3 in development, tagged `base`."""
    for _ in range(3):
        reg.register("m", training())
    git(reg.root, "tag", "base")


@world
def one(reg, training):
    """m v1 in development."""
    reg.register("m", training())


EXPECTED_TEXT = """\
Registry changes: base (BASE) -> HEAD (HEAD)

New models:
  - rl-agent (1 version)

New versions:
  - rl-agent v1 in development; evaluation/best_mean_reward=10; run run_20251004_145809_lgbm_y_logret_168h_huber
  - rl-agent v2 in development; 200k more steps; evaluation/best_mean_reward=12.5, \
improvement_evaluation/best_mean_reward=+25.00%; continued of rl-agent v1
  - m v4 in development; Trained 2023-2025 data; rmse_test=0.0431, rmse_train=0.049, rmse_val=0.0577; \
run run_20251006_145809_lgbm_y_logret_168h_huber

Promotions and demotions:
  - m v1 demoted champion -> archived: "New champion promoted" (Test User, 2025-06-10T14:27:00Z)
  - m v2 promoted beta -> champion: "beats v1 on rmse_val" (Test User, 2025-06-10T14:27:00Z)
  - m v3 promoted development -> beta: "worth a shadow run" (Test User, 2025-06-10T14:28:00Z)

Aliases:
  - m alias prod moved v1 -> v2
  - m alias staging set to v3
  - m alias old removed (was v1)

Tags:
  - m v1 tag reviewed = yes (was no)
  - m v2 tag owner = alice
  - m tag team removed (was quant)

Descriptions:
  - m description: "" -> "BTC 1h log-return regression"

Settings:
  - mlreg.yaml changed: mlflow
"""


def _normalise(text: str, root: Path) -> str:
    for ref in ("base", "HEAD"):
        text = text.replace(git(root, "rev-parse", ref).strip()[:10], ref.upper())
    return text


def test_text_tells_the_whole_story(story, cli):
    """base..HEAD is a stretch of main's history: each commit is one step, its changes in the order made
    (rl-agent arrives with v1; v2 is a later step)."""
    r = cli(story, "diff", "base", "HEAD")
    assert r.code == 0, r.err
    assert _normalise(r.out, story) == EXPECTED_TEXT


MARKDOWN_LINES = [
    "### Registry changes: `base` (BASE) → `HEAD` (HEAD)",
    "#### New models",
    "- **rl-agent** (1 version)",
    "#### New versions",
    "- **m v4** in `development` — Trained 2023-2025 data — rmse_test=0.0431, rmse_train=0.049, rmse_val=0.0577 "
    "— run `run_20251006_145809_lgbm_y_logret_168h_huber`",
    "- **rl-agent v2** in `development` — 200k more steps — evaluation/best_mean_reward=12.5, "
    "improvement_evaluation/best_mean_reward=+25.00% — continued of rl-agent v1",
    "#### Promotions and demotions",
    "- **m v1** demoted `champion` → `archived`: “New champion promoted” (Test User, 2025-06-10T14:27:00Z)",
    "- **m v2** promoted `beta` → `champion`: “beats v1 on rmse_val” (Test User, 2025-06-10T14:27:00Z)",
    "#### Aliases",
    "- **m** alias `old` removed (was v1)",
    "- **m** alias `prod` moved v1 → v2",
    "- **m** alias `staging` set to v3",
    "#### Tags",
    "- **m** tag `team` removed (was `quant`)",
    "- **m v1** tag `reviewed` = `yes` (was `no`)",
    "- **m v2** tag `owner` = `alice`",
    "#### Descriptions",
    "- **m** description: “” → “BTC 1h log-return regression”",
    "#### Settings",
    "- `mlreg.yaml` changed: mlflow",
]


def test_markdown_for_the_pull_request_summary(story, cli):
    r = cli(story, "diff", "base", "HEAD", "--format", "md")
    assert r.code == 0, r.err
    lines = _normalise(r.out, story).splitlines()
    for line in MARKDOWN_LINES:
        assert line in lines
    assert "Refused" not in r.out  # every change in this story is legal


def test_json_names_every_change(story, cli):
    doc = cli(story, "diff", "base", "HEAD", "--format", "json").json()
    assert cli(story, "diff", "base", "HEAD", "--json").json() == doc
    assert doc["base"] == "base" and doc["base_commit"] == git(story, "rev-parse", "base").strip()
    assert doc["head_commit"] == git(story, "rev-parse", "HEAD").strip() and doc["problems"] == []
    by_kind: dict[str, list] = {}
    for c in doc["changes"]:
        by_kind.setdefault(c.pop("kind"), []).append(c)
    assert by_kind["model_added"] == [{"model": "rl-agent", "description": "", "versions": [1]}]
    added = {(c["model"], c["version"]): c for c in by_kind["version_added"]}
    assert set(added) == {("m", 4), ("rl-agent", 1), ("rl-agent", 2)}
    assert added[("m", 4)]["metrics"] == {"rmse_test": 0.0431, "rmse_train": 0.049, "rmse_val": 0.0577}
    assert added[("rl-agent", 2)]["base"] == "rl-agent v1" and added[("rl-agent", 2)]["model_type"] == "continued"
    stages = {
        c["version"]: (c["before"], c["after"], c["direction"], c["reason"], c["legal"])
        for c in by_kind["stage_changed"]
    }
    assert stages == {
        1: ("champion", "archived", "demoted", "New champion promoted", True),
        2: ("beta", "champion", "promoted", "beats v1 on rmse_val", True),
        3: ("development", "beta", "promoted", "worth a shadow run", True),
    }
    assert {(c["alias"], c["before"], c["after"]) for c in by_kind["alias_changed"]} == {
        ("old", 1, None),
        ("prod", 1, 2),
        ("staging", None, 3),
    }
    assert {(c["version"], c["key"], c["before"], c["after"]) for c in by_kind["tag_changed"]} == {
        (None, "team", "quant", None),
        (1, "reviewed", "no", "yes"),
        (2, "owner", None, "alice"),
    }
    assert by_kind["description_changed"] == [{"model": "m", "before": "", "after": "BTC 1h log-return regression"}]
    assert by_kind["settings_changed"] == [{"model": "", "keys": ["mlflow"], "moved": []}]


def _illegal(root: Path) -> None:
    """Delete v2, rewrite a metric of v1, renumber v3 to v4, jump v3... each by hand."""
    meta = root / "registry/m/v1/metadata.json"
    doc = json.loads(meta.read_text())
    doc["metrics"]["rmse_val"] = 0.01
    meta.write_text(json.dumps(doc, indent=2))
    for f in sorted((root / "registry/m/v2").iterdir()):
        f.unlink()
    (root / "registry/m/v2").rmdir()
    (root / "registry/m/v3").rename(root / "registry/m/v4")


@pytest.mark.parametrize("fmt", ["text", "md", "json"])
def test_refused_changes_are_flagged_in_every_format(three, cli, fmt):
    _illegal(three.root)
    r = cli(three.root, "diff", "base", "--format", fmt)  # HEAD defaults to the working tree
    assert r.code == 0, r.err  # diff reports; validate --base refuses
    expected = [
        "registry/m/v1/metadata.json: $.metrics.rmse_val: immutable field of committed version m v1 "
        "changed (0.0669 -> 0.01)",
        "registry/m/v2/metadata.json: committed version m v2 was deleted",
        "registry/m/v4/metadata.json: m v3 was renumbered to v4",
    ]
    if fmt == "json":
        doc = r.json()
        assert doc["head"] == "working tree" and doc["head_commit"] is None
        assert [k["kind"] for k in doc["changes"]] == ["version_renumbered", "version_removed", "field_changed"]
        for text in expected:
            assert any(p.startswith(text) for p in doc["problems"])
        return
    heading = "#### Refused by mlreg validate --base (3)" if fmt == "md" else "Refused by mlreg validate --base (3):"
    assert heading in r.out.splitlines()
    for text in expected:
        assert (f"- `{text}" if fmt == "md" else f"  - {text}") in r.out


def test_illegal_stage_move_is_marked(reg, training, cli):
    reg.register("m", training())
    git(reg.root, "tag", "base")
    meta = reg.root / "registry/m/v1/metadata.json"
    doc = json.loads(meta.read_text())
    doc["stage_history"].append(
        {
            "action": "promote",
            "from": "development",
            "to": "champion",
            "at": "2025-07-01T09:00:00Z",
            "by": "Hand Editor <h@e>",
            "reason": "yolo",
        }
    )
    doc["stage"] = "champion"
    meta.write_text(json.dumps(doc))
    text = cli(reg.root, "diff", "base").out
    assert '  - m v1 promoted development -> champion: "yolo" (Hand Editor, 2025-07-01T09:00:00Z) [NOT ALLOWED]' in text
    md = cli(reg.root, "diff", "base", "-f", "md").out
    assert (
        "- **m v1** promoted `development` → `champion`: “yolo” (Hand Editor, 2025-07-01T09:00:00Z) — ⚠ not allowed"
        in md
    )


def test_default_is_the_working_tree_merged_into_the_default_branch(reg, training, cli):
    reg.register("m", training())
    git(reg.root, "checkout", "-q", "-b", "topic")
    reg.promote("m", "1", "beta", "on the branch")
    git(reg.root, "checkout", "-q", "main")
    reg.register("m", training())  # main moves on: not part of the branch's change
    git(reg.root, "checkout", "-q", "topic")
    reg.tag_set("m", "1", "note", "uncommitted", commit=False)  # the working tree counts too

    r = cli(reg.root, "diff")
    assert r.code == 0, r.err
    tip = git(reg.root, "rev-parse", "main").strip()
    assert r.out.splitlines()[0] == f"Registry changes: main ({tip[:10]}) -> working tree merged into main"
    assert '  - m v1 promoted development -> beta: "on the branch" (Test User, 2025-06-10T14:19:00Z)' in r.out
    assert "  - m v1 tag note = uncommitted" in r.out
    assert "m v2" not in r.out


def test_no_changes(story, cli):
    r = cli(story, "diff", "HEAD", "HEAD")
    assert r.code == 0 and r.out.splitlines()[-1] == "No registry changes."
    assert cli(story, "diff", "HEAD", "HEAD", "--json").json()["changes"] == []


def test_model_removed_and_bad_ref(reg, training, cli):
    reg.register("gone", training())
    git(reg.root, "tag", "base")
    git(reg.root, "rm", "-q", "-r", "registry/gone")
    git(reg.root, "commit", "-q", "-m", "remove a model")
    out = cli(reg.root, "diff", "base", "HEAD").out
    assert "Removed models:\n  - gone removed\n" in out
    assert (
        "  - registry/gone/: model gone was deleted with its committed versions v1; "
        "committed versions are never removed" in out
    )
    r = cli(reg.root, "diff", "nope")
    assert (
        r.code == 1
        and r.err.strip() == "Error: unknown git ref 'nope': expected a branch, tag or commit (fetch it first?)"
    )


def test_diff_reads_no_artifacts(story, monkeypatch):
    """Only metadata is read from git: the cat-file batch never asks for an artifact blob."""
    from mlreg.api import Registry
    from mlreg.storage import gitops

    asked: list[str] = []
    real = gitops.blobs
    monkeypatch.setattr(gitops, "blobs", lambda root, oids: asked.extend(oids) or real(root, oids))
    Registry(story).diff("base", "HEAD")
    artifacts = {
        line.split()[2]
        for line in git(story, "ls-tree", "-r", "HEAD", "registry").splitlines()
        if re.search(r"/v\d+/(?!metadata\.json$)[^/]+$", line)
    }
    assert asked and not artifacts & set(asked)


def test_several_moves_in_one_range_show_the_way(reg, training, cli):
    reg.register("m", training())
    git(reg.root, "tag", "base")
    reg.promote("m", "1", "beta", "shadow run")
    reg.promote("m", "1", "champion", "ship it")
    reg.register("m", training())
    reg.promote("m", "2", "beta", "next candidate")
    out = cli(reg.root, "diff", "base").out
    assert '  - m v1 promoted development -> champion (via beta): "ship it"' in out
    assert "development -> champion is not an allowed transition" in out  # one step per pull request
    assert "  - m v2 in beta (via development); " in out
    doc = cli(reg.root, "diff", "base", "--json").json()
    assert [c["path"] for c in doc["changes"]] == [["development", "beta", "champion"], ["development", "beta"]]


# -- files a change leaves unreadable: never "No registry changes." ----------------------------------
def _write(rel: str, text: str):
    return lambda root: (root / rel).write_text(text)


def _delete(rel: str):
    return lambda root: (root / rel).unlink()


V1, MODEL = "registry/m/v1/metadata.json", "registry/m/model.yaml"
COMMITTED = "the record of committed version m v1"
UNREADABLE = {  # case: (edit, the refusal diff lists, which plain validate also names the file with)
    "record-malformed": (_write(V1, "{bad\n"), f"{V1}: {COMMITTED} was made unreadable (malformed JSON: "),
    "record-not-an-object": (
        _write(V1, "[]\n"),
        f"{V1}: {COMMITTED} was made unreadable (expected a mapping, got a list); "
        "committed versions are immutable and never removed",
    ),
    "record-deleted": (_delete(V1), f"{V1}: {COMMITTED} was deleted; committed versions are immutable"),
    "model-yaml-malformed": (
        _write(MODEL, "name: [m\n"),
        f"{MODEL}: the model file of m was made unreadable (malformed YAML: ",
    ),
    "model-yaml-not-a-mapping": (
        _write(MODEL, "- m\n"),
        f"{MODEL}: the model file of m was made unreadable (expected a mapping, got a "
        "list); expected a YAML mapping in every model folder",
    ),
    "model-yaml-deleted": (_delete(MODEL), f"{MODEL}: the model file of m was deleted; expected a YAML mapping"),
    "settings-malformed": (
        _write("mlreg.yaml", "lifecycle: [\n"),
        "mlreg.yaml: the registry settings file was made unreadable (malformed YAML: ",
    ),
    "settings-not-a-mapping": (
        _write("mlreg.yaml", "just text\n"),
        "mlreg.yaml: the registry settings file was made unreadable "
        "(expected a mapping, got a string); expected a YAML mapping",
    ),
}


def _refusals(r, fmt: str) -> list[str]:
    """The refusals diff lists, from any format (exactly one expected here)."""
    assert r.code == 0, r.err  # diff reports; validate --base refuses
    assert "No registry changes." not in r.out
    if fmt == "json":
        doc = r.json()
        assert [c["kind"] for c in doc["changes"]] == ["file_unreadable"] and doc["changes"][0]["was"] == "readable"
        return doc["problems"]
    heading, mark = (
        ("#### Refused by mlreg validate --base (1)", "- `")
        if fmt == "md"
        else ("Refused by mlreg validate --base (1):", "  - ")
    )
    lines = r.out.splitlines()
    assert lines[2] == heading and len(lines) == 4  # title, blank, heading, the one refusal
    return [lines[3].removeprefix(mark).rstrip("`")]


@pytest.mark.parametrize("fmt", ["text", "md", "json"])
@pytest.mark.parametrize("case", list(UNREADABLE))
def test_a_file_made_unreadable_is_refused(one, cli, case, fmt):
    reg = one
    edit, refusal = UNREADABLE[case]
    edit(reg.root)
    worktree = _refusals(cli(reg.root, "diff", "--format", fmt), fmt)  # merge-base with main -> working tree
    git(reg.root, "checkout", "-q", "-b", "broken")
    commit_all(reg.root, case)
    committed = _refusals(cli(reg.root, "diff", "main", "HEAD", "--format", fmt), fmt)
    assert worktree == committed and committed[0].startswith(refusal)
    # validate --base refuses it too, from the one shared computation, beside plain validate's own message
    file = refusal.split(":")[0]
    for args in (("--base", "main"), ("--base", "main", "--head", "HEAD")):
        found = cli(reg.root, "validate", *args, "--json").json()["problems"]
        assert committed[0] in found
        assert any(p.startswith(f"{file}: ") and p != committed[0] for p in found)


def test_unreadable_files_changed_repaired_or_new(one, cli):
    reg = one
    meta = reg.root / V1
    good = meta.read_text()
    meta.write_text("{bad\n")
    commit_all(reg.root, "break v1")
    git(reg.root, "tag", "broken")
    assert cli(reg.root, "diff", "broken").out.splitlines()[-1] == "No registry changes."  # same bytes: no change

    meta.write_text("{worse\n")  # still unreadable, but not the committed bytes
    r = cli(reg.root, "diff", "broken", "--json").json()
    assert [(c["kind"], c["was"]) for c in r["changes"]] == [("file_unreadable", "unreadable")]
    assert r["problems"][0].startswith(f"{V1}: {COMMITTED} was changed and is still unreadable (malformed JSON: ")

    meta.write_text(good)  # repaired: a change to report, not a refusal
    r = cli(reg.root, "diff", "broken", "--format", "md")
    assert "#### Files readable again" in r.out and "Refused" not in r.out
    assert (
        f"- `{V1}` (was: malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1))" in r.out.splitlines()
    )
    assert cli(reg.root, "diff", "broken", "--json").json()["changes"] == [
        {
            "kind": "file_readable",
            "model": "m",
            "version": 1,
            "file": V1,
            "reason": "malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        }
    ]

    meta.write_text("{bad\n")
    (reg.root / "registry/m/v2").mkdir()
    (reg.root / "registry/m/v2/metadata.json").write_text('"v2"\n')  # a new version nobody can read
    r = cli(reg.root, "diff", "broken")
    assert "New versions" not in r.out
    assert (
        "  - registry/m/v2/metadata.json: the record of new version m v2 is unreadable (expected a mapping, "
        "got a string); expected a metadata.json holding a JSON object in every version folder" in r.out
    )
