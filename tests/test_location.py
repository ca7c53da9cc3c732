"""Where the registry is: `init` makes it in the folder it runs in (or -C DIR); every other command uses the
nearest folder upward holding mlreg.yaml within the work tree, else the work tree's root."""

from __future__ import annotations

from pathlib import Path

from mlreg.api import Registry

from conftest import git


def test_a_registry_in_a_monorepo_sub_folder(repo_dir, training, cli):
    ml = repo_dir / "ml"
    ml.mkdir()
    r = cli(ml, "init")  # from the sub-folder: the registry goes there, not to the repository root
    assert r.code == 0, r.err
    assert (ml / "mlreg.yaml").is_file() and not (repo_dir / "mlreg.yaml").exists()
    r = cli(repo_dir, "-C", "ml", "register", "m", "--from-dir", str(training()))
    assert r.code == 0, r.err
    files = git(repo_dir, "show", "--name-only", "--format=", "HEAD").split()
    assert "ml/registry/m/v1/metadata.json" in files and not [f for f in files if not f.startswith("ml/")]
    assert git(repo_dir, "status", "--porcelain") == ""
    assert '"name": "m"' in cli(repo_dir, "-C", "ml", "list", "--json").out
    deep = ml / "registry" / "m" / "v1"
    assert cli(deep, "show", "m@1", "--json").json()["version"] == 1  # from inside: the nearest mlreg.yaml up
    assert cli(deep, "promote", "m@1", "beta", "--reason", "ok").code == 0
    assert git(repo_dir, "status", "--porcelain") == ""
    assert cli(deep, "validate").code == 0
    r = cli(deep, "validate", "--base", "HEAD~1", "--json")
    assert r.code == 0 and r.json()["valid"], r.out
    assert "beta" in cli(deep, "diff", "HEAD~1", "HEAD").out
    assert len(cli(deep, "history", "m", "--json").json()) >= 2
    assert cli(repo_dir, "list", "--json").json() == []  # the root has no mlreg.yaml: the work tree root is used


def test_init_with_C_makes_the_registry_there(repo_dir, cli):
    (repo_dir / "a" / "b").mkdir(parents=True)
    assert cli(repo_dir, "-C", "a/b", "init").code == 0
    assert (repo_dir / "a/b/mlreg.yaml").is_file()
    assert "a/b/mlreg.yaml" in git(repo_dir, "show", "--name-only", "--format=", "HEAD")


def test_a_registry_that_is_a_submodule_works_from_a_sub_folder(tmp_path, training, cli):
    reg_src = tmp_path / "reg-src"
    reg_src.mkdir()
    git(reg_src, "init", "-q")
    Registry(reg_src).init()
    parent = tmp_path / "parent"
    parent.mkdir()
    git(parent, "init", "-q")
    git(parent, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(reg_src), "reg")
    sub = parent / "reg" / "registry"
    assert (parent / "reg" / ".git").is_file()  # `gitdir: ../.git/modules/reg`, relative to reg/
    r = cli(sub, "register", "m", "--from-dir", str(training()))
    assert r.code == 0, r.err
    assert (parent / ".git/modules/reg/mlreg.lock").exists()
    assert git(parent / "reg", "status", "--porcelain") == ""
    assert "registry/m/v1/metadata.json" in git(parent / "reg", "show", "--name-only", "--format=", "HEAD")
    assert cli(sub, "list", "--json").json()[0]["name"] == "m"
    assert cli(sub / "m", "verify", "m").code == 0


def test_outside_a_repository_is_a_clear_error(tmp_path: Path, cli):
    r = cli(tmp_path, "list")
    assert r.code == 1 and "not inside a git repository" in r.err
