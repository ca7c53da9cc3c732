"""The gate is an allow-list (issue 19): a pull request may change only what mlreg's own operations write.

Every case runs against real git: a bare origin, a clone, a branch per pull request, `mlreg validate --base
origin/main`. Each hostile case passed the gate before; each legal counterpart (a PR registering through the
CLI, a one-step promote, an allowed external prefix) still passes.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import pytest
import yaml

from conftest import git
from test_gate import commit_all, doc_of, meta, pr_branch, published, validate, work  # noqa: F401  (the fixtures)

ZERO = "0" * 64


def add_version(root: Path, n: int, stage: str, history: list[dict], **fields) -> dict:
    """A hand-written new version m vN: v3's folder copied (its files match their digests), record edited."""
    shutil.copytree(root / "registry/m/v3", root / f"registry/m/v{n}")
    doc = doc_of(root, n) | {"version": n, "stage": stage, "stage_history": history} | fields
    meta(root, n).write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def entry(action: str, to: str, at: str = "2025-06-10T15:00:00Z", frm: str | None = None, by: str = "Test User"):
    return {"action": action, "from": frm, "to": to, "at": at, "by": by, "reason": "looked fine"}


def append(root: Path, n: int, *entries: dict, stage: str | None = None) -> None:
    doc = doc_of(root, n)
    doc["stage_history"] += list(entries)
    doc["stage"] = stage or entries[-1]["to"]
    meta(root, n).write_text(json.dumps(doc, indent=2) + "\n")


def refused(cli, root: Path, *texts: str) -> None:
    r = validate(cli, root)
    assert r.code == 1, r.out
    for text in texts:
        assert text in r.err, r.err


def set_settings(root: Path, **top) -> None:
    doc = yaml.safe_load((root / "mlreg.yaml").read_text())
    for key, value in top.items():
        doc[key] = (doc.get(key) or {}) | value
    (root / "mlreg.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def land_settings(work: Path, **top) -> None:
    """The base opts in: mlreg.yaml changed on main (a pull request of its own, merged)."""
    pr_branch(work, "settings")
    set_settings(work, **top)
    commit_all(work, "settings")
    git(work, "push", "-q", "origin", "HEAD:main")
    git(work, "fetch", "-q")


# -- new versions ---------------------------------------------------------------------------------------
def test_new_version_labelled_import_cannot_land_in_champion(work, cli):
    pr_branch(work, "import-champion")
    add_version(work, 4, "champion", [entry("import", "champion")])
    append(work, 1, entry("demote", "archived", "2025-06-10T16:00:00Z", "champion"))
    commit_all(work, "import v4 as champion")
    refused(
        cli,
        work,
        "registry/m/v4/metadata.json: $.stage_history[0].action: a version `mlreg import` wrote "
        "is accepted through a pull request only when the base's mlreg.yaml sets gate.allow_imports",
    )
    # opted in, the base still never takes an import in (or through) an exclusive stage
    git(work, "checkout", "-q", "main")
    land_settings(work, gate={"allow_imports": True})
    git(work, "checkout", "-q", "import-champion")
    refused(
        cli,
        work,
        "registry/m/v4/metadata.json: $.stage_history[0].to: an imported version never arrives "
        "in, or through, the exclusive stage 'champion'",
    )
    # the legal counterpart: an import into a plain stage, where the base opts in
    pr_branch(work, "import-beta")
    add_version(work, 4, "beta", [entry("import", "development"), entry("promote", "beta", frm="development")])
    commit_all(work, "import v4")
    r = validate(cli, work)
    assert r.code == 0, r.err


def test_made_up_history_on_a_new_version_is_refused(work, cli):
    pr_branch(work, "made-up")
    add_version(
        work,
        4,
        "development",
        [
            entry("register", "development"),
            entry("promote", "beta", frm="development"),
            entry("promote", "champion", frm="beta", by="Head of Risk"),
            entry("demote", "development", frm="champion"),
        ],
    )
    commit_all(work, "v4 with a past")
    refused(
        cli,
        work,
        "registry/m/v4/metadata.json: $.stage_history: a new version holds 4 entries; expected one `register` entry",
    )
    pr_branch(work, "made-up-first")  # a first entry register never writes
    add_version(work, 4, "development", [entry("promote", "development", frm="champion")])
    commit_all(work, "v4")
    refused(cli, work, "registry/m/v4/metadata.json: $.stage_history[0].action: expected 'register'")
    pr_branch(work, "future-register")
    add_version(work, 4, "development", [entry("register", "development", "2999-01-01T00:00:00Z")])
    commit_all(work, "v4 from the future")
    refused(cli, work, "registry/m/v4/metadata.json: $.stage_history[0].at: 2999-01-01T00:00:00Z is in the future")


def test_forged_history_never_reaches_rollback(work, cli):
    """The attack of the issue: PR 1 lands v4 with a made-up past as champion, PR 2 `rollback m --to 4` makes it
    champion because rollback trusts committed history. PR 1 is refused, and so is both in one."""
    pr_branch(work, "made-up")
    add_version(
        work,
        4,
        "development",
        [
            entry("register", "development"),
            entry("promote", "champion", frm="development", by="Head of Risk"),
            entry("demote", "development", frm="champion"),
        ],
    )
    commit_all(work, "v4")
    refused(cli, work, "registry/m/v4/metadata.json: $.stage_history: a new version holds 3 entries")
    assert cli(work, "rollback", "m", "--to", "4", "--reason", "back").code == 0  # what PR 2 would do
    assert doc_of(work, 4)["stage"] == "champion"
    refused(cli, work, "registry/m/v4/metadata.json: $.stage")


def test_a_pr_registering_through_the_cli_passes(work, cli, training):
    pr_branch(work, "register")
    assert cli(work, "register", "m", "--from-dir", str(training())).code == 0
    assert cli(work, "register", "n", "--from-dir", str(training())).code == 0
    r = validate(cli, work)
    assert r.code == 0, r.err
    assert doc_of(work, 4)["stage_history"][0]["action"] == "register"


def test_register_then_promote_in_one_pr_is_refused(work, cli, training):
    pr_branch(work, "register-promote")
    assert cli(work, "register", "m", "--from-dir", str(training())).code == 0
    assert cli(work, "promote", "m@4", "beta", "--reason", "quick").code == 0
    refused(cli, work, "registry/m/v4/metadata.json: $.stage: new version arrives in stage 'beta'")


# -- appended history -----------------------------------------------------------------------------------
def test_appended_entries_are_one_legal_timed_move(work, cli):
    pr_branch(work, "chain")  # beta -> champion -> archived in one PR, dated before v2 was registered
    append(
        work,
        2,
        entry("promote", "champion", "2020-01-01T00:00:00Z", "beta"),
        entry("demote", "archived", "2020-01-02T00:00:00Z", "champion"),
    )
    commit_all(work, "v2 history")
    refused(
        cli,
        work,
        "registry/m/v2/metadata.json: $.stage_history[3]: 2 entries appended to one version in one "
        "change; expected one",
    )
    pr_branch(work, "backdated")
    append(work, 2, entry("promote", "archived", "2020-01-01T00:00:00Z", "beta"))
    commit_all(work, "archive v2")
    refused(
        cli,
        work,
        "registry/m/v2/metadata.json: $.stage_history[2].at: 2020-01-01T00:00:00Z is earlier than the entry before it",
    )
    pr_branch(work, "future")
    append(work, 2, entry("promote", "archived", "2999-01-01T00:00:00Z", "beta"))
    commit_all(work, "archive v2")
    refused(cli, work, "registry/m/v2/metadata.json: $.stage_history[2].at: 2999-01-01T00:00:00Z is in the future")
    pr_branch(work, "no-move")  # an entry with no stage move: history only rollback would read
    append(work, 2, entry("promote", "champion", "2025-12-01T00:00:00Z", "beta"), stage="beta")
    commit_all(work, "note")
    refused(
        cli, work, "registry/m/v2/metadata.json: $.stage_history[2]: an entry was appended but the stage did not change"
    )


def test_a_one_step_promote_through_the_cli_passes(work, cli):
    pr_branch(work, "promote")
    assert cli(work, "promote", "m@2", "champion", "--reason", "better").code == 0  # v1 demoted alongside
    r = validate(cli, work)
    assert r.code == 0, r.err
    assert [e["action"] for e in doc_of(work, 1)["stage_history"]][-1] == "demote"


# -- .gitattributes -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path,text",
    [
        ("registry/.gitattributes", "* text eol=crlf\n"),
        ("registry/m/.gitattributes", "*.json text eol=crlf\n"),
        (".gitattributes", "*.json working-tree-encoding=UTF-16LE\n"),
    ],
)
def test_gitattributes_reaching_registry_is_refused(work, cli, path, text):
    pr_branch(work, "attrs")
    (work / path).write_text(text)
    git(work, "add", path)  # only the attributes file: the registry's files stay as they were committed
    git(work, "commit", "-q", "-m", "attributes")
    refused(cli, work, f"Error: {path}: a .gitattributes that applies to registry/ was added, changed or removed")
    r = cli(work, "diff", "origin/main")
    assert "No registry changes." not in r.out and path in r.out


def test_gitattributes_elsewhere_passes(work, cli):
    pr_branch(work, "docs-attrs")
    (work / "docs").mkdir()
    (work / "docs/.gitattributes").write_text("* text eol=crlf\n")
    commit_all(work, "docs attributes")
    assert validate(cli, work).code == 0


# -- names ----------------------------------------------------------------------------------------------
def test_model_names_unique_ignoring_case(work, cli, training):
    pr_branch(work, "upper")
    shutil.copytree(work / "registry/m", work / "registry/M")
    for f in (work / "registry/M").rglob("*"):
        if f.name in ("model.yaml", "metadata.json"):
            f.write_text(f.read_text().replace('"name": "m"', '"name": "M"').replace("name: m\n", "name: M\n"))
    for n in (1, 2, 3):  # one champion per model; its history is its own business here
        doc = doc_of(work, n, "M")
        doc["stage"], doc["stage_history"] = "development", doc["stage_history"][:1]
        meta(work, n, "M").write_text(json.dumps(doc, indent=2))
    commit_all(work, "M")
    refused(cli, work, "model name 'm' collides with 'M': they differ only in letter case")


def test_register_refuses_a_name_with_a_trailing_newline(work, cli, training):
    head = git(work, "rev-parse", "HEAD")
    r = cli(work, "register", "x\n", "--from-dir", str(training()))
    assert r.code == 1 and "invalid model name 'x\\n'" in r.err and "malformed index" not in r.err
    assert git(work, "rev-parse", "HEAD") == head and not (work / "registry/x").exists()
    assert not (work / "registry/x\n").exists()


NFC, NFD = unicodedata.normalize("NFC", "modèle.txt"), unicodedata.normalize("NFD", "modèle.txt")


@pytest.mark.parametrize(
    "files,text",
    [
        ({"nul.txt": "x"}, "'nul.txt' is a reserved name on Windows"),
        ({"a:b.txt": "x"}, "'a:b.txt' holds a character Windows does not allow"),
        ({"a.txt": "x", "A.txt": "y"}, "'a.txt' and 'A.txt' differ only in letter case or Unicode normalisation"),
        ({NFC: "x", NFD: "y"}, "differ only in letter case or Unicode normalisation"),
    ],
)
def test_artifact_names_register_refuses_are_refused(work, cli, files, text):
    pr_branch(work, "names")
    add_version(work, 4, "development", [entry("register", "development")])
    doc = doc_of(work, 4)
    for name, body in files.items():
        (work / "registry/m/v4" / name).write_text(body)
        doc["artifacts"].append(
            {"path": name, "sha256": __import__("hashlib").sha256(body.encode()).hexdigest(), "size": len(body)}
        )
    meta(work, 4).write_text(json.dumps(doc, indent=2))
    commit_all(work, "v4")
    refused(cli, work, "registry/m/v4/metadata.json: $.artifacts", text)


# -- duplicate JSON keys --------------------------------------------------------------------------------
def test_duplicate_json_key_is_refused(work, cli):
    pr_branch(work, "dup")
    text = meta(work, 1).read_text()
    meta(work, 1).write_text(text.replace('  "metrics": {', '  "metrics": {"rmse_val": 0.0001},\n  "metrics": {', 1))
    commit_all(work, "metrics")
    expected = "registry/m/v1/metadata.json: malformed JSON: duplicate key 'metrics'"
    refused(cli, work, expected)
    r = cli(work, "validate")
    assert r.code == 1 and expected in r.err


# -- external artifacts ---------------------------------------------------------------------------------
def external(root: Path, *uris: str) -> None:
    add_version(root, 4, "development", [entry("register", "development")])
    doc = doc_of(root, 4)
    doc["artifacts"] += [{"uri": u, "sha256": ZERO, "size": 0} for u in uris]
    meta(root, 4).write_text(json.dumps(doc, indent=2))
    commit_all(root, "v4 with external files")


def test_external_artifacts_refused_by_default(work, cli):
    pr_branch(work, "secrets")
    external(work, "file:///proc/self/environ")
    refused(
        cli,
        work,
        "registry/m/v4/metadata.json: $.artifacts[2].uri: external artifact "
        "'file:///proc/self/environ' refused: the base's mlreg.yaml allows no external artifact URIs",
    )
    assert "v4" in cli(work, "diff", "origin/main").out


def test_external_artifacts_under_an_allowed_prefix(work, cli):
    land_settings(work, artifacts={"external": ["s3://team-bucket/", "file:///mnt/models/"]})
    pr_branch(work, "allowed")
    external(work, "s3://team-bucket/m/v4/model.bin", "file:///mnt/models/m/model.bin")
    r = validate(cli, work)
    assert r.code == 0, r.err
    for uri, why in (
        ("file:///proc/self/environ", "is not under an allowed prefix"),
        ("s3://team-bucket-evil/x", "is not under an allowed prefix"),
        ("file:///mnt/models/../../proc/self/environ", "is not a plain path under file:///mnt/models/"),
        ("file:///mnt/models/%2e%2e/etc/passwd", "is not a plain path"),
    ):
        pr_branch(work, "hostile")
        external(work, uri)
        refused(cli, work, f"$.artifacts[2].uri: external artifact {uri!r} {why}")


def test_import_dir_uses_the_same_name_rule(reg, tmp_path, cli):
    old = tmp_path / "legacy" / "models" / "ppo_v0.1.0"
    old.mkdir(parents=True)
    (old / "metadata.json").write_text(
        json.dumps({"model_name": "ppo", "model_version": "v0.1.0", "training_timestamp": "2024-01-02T09:00:00"})
    )
    (old / "a:b.zip").write_text("weights")
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "import", "dir", str(tmp_path / "legacy"))
    assert r.code == 1 and "'a:b.zip' holds a character Windows does not allow" in r.err, r.err
    assert git(reg.root, "rev-parse", "HEAD") == head and not (reg.root / "registry/ppo").exists()
