"""--check and --dry-run write nothing anywhere; a plain sync creates only the local store's folder."""

from __future__ import annotations

import pytest

from .sync_helpers import git


def _files(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if ".git" not in p.relative_to(folder).parts}


@pytest.mark.parametrize("mode, code", [("--check", 1), ("--dry-run", 0)])
def test_check_and_dry_run_never_create_the_local_store(reg, training, cli, tmp_path, monkeypatch, mode, code):
    reg.register("lgbm", training())
    before = _files(reg.root)
    work = tmp_path / "elsewhere"
    work.mkdir()

    r = cli(reg.root, "sync", mode, "--json")

    assert r.code == code, r.err
    doc = r.json()
    assert doc["uri_source"] == "embedded" and doc["totals"]["created"] == 3 and doc["totals"]["unchanged"] == 0
    assert {(c["kind"], c["status"]) for c in doc["changes"]} == {
        ("model", "create"),
        ("run", "create"),
        ("version", "create"),
    }
    assert not (reg.root / ".mlreg").exists() and _files(reg.root) == before
    assert git(reg.root, "status", "--porcelain") == "" and list(work.iterdir()) == []


@pytest.mark.parametrize("mode, code", [("--check", 1), ("--dry-run", 0)])
def test_check_and_dry_run_never_create_a_given_sqlite_store(reg, training, cli, tmp_path, mode, code):
    reg.register("lgbm", training())
    db = tmp_path / "nowhere" / "dir" / "x.db"

    r = cli(reg.root, "sync", "--tracking-uri", f"sqlite:///{db}", mode)

    assert r.code == code, r.err
    assert f"sqlite:///{db} (--tracking-uri)" in r.out and "create │ version │ lgbm/1" in r.out
    assert not (tmp_path / "nowhere").exists() and not (reg.root / ".mlreg").exists()
    if mode == "--check":
        assert "3 difference(s) between git and MLflow" in r.err


def test_sync_to_sqlite_in_a_missing_folder_is_refused(reg, training, cli, tmp_path):
    reg.register("lgbm", training())
    db = tmp_path / "nowhere" / "x.db"

    r = cli(reg.root, "sync", "--tracking-uri", f"sqlite:///{db}")

    assert r.code == 1
    assert f"Error: sqlite:///{db}: folder {db.parent} does not exist; create it first" in r.err
    assert not (tmp_path / "nowhere").exists() and not (reg.root / ".mlreg").exists()


def test_sync_to_sqlite_in_an_existing_folder_creates_the_database(reg, training, cli, tmp_path):
    reg.register("lgbm", training())
    db = tmp_path / "team" / "x.db"
    db.parent.mkdir()

    assert cli(reg.root, "sync", "--tracking-uri", f"sqlite:///{db}").code == 0
    r = cli(reg.root, "sync", "--tracking-uri", f"sqlite:///{db}", "--check")
    assert r.code == 0 and "MLflow matches git" in r.out
    assert db.is_file() and (db.parent / "artifacts").is_dir() and not (reg.root / ".mlreg").exists()


def test_local_store_is_git_ignored_without_mlreg_init(repo_dir, training, cli):
    (repo_dir / "mlreg.yaml").write_text("schema_version: 1\n")  # a registry set up by hand: no .gitignore line
    git(repo_dir, "add", "mlreg.yaml")
    git(repo_dir, "commit", "-qm", "registry")
    r = cli(repo_dir, "register", "lgbm", "--from-dir", str(training()))
    assert r.code == 0, r.err
    assert not (repo_dir / ".gitignore").exists() and git(repo_dir, "status", "--porcelain") == ""

    r = cli(repo_dir, "sync")

    assert r.code == 0, r.err
    assert (repo_dir / ".mlreg" / "mlflow.db").is_file() and (repo_dir / ".mlreg" / ".gitignore").read_text() == "*\n"
    assert git(repo_dir, "status", "--porcelain", "--untracked-files=all") == ""
    git(repo_dir, "add", "-A")
    assert git(repo_dir, "diff", "--cached", "--name-only") == ""  # even `git add -A` cannot stage the store
