import yaml

from conftest import git


def test_init_writes_settings_registry_and_gitignore_in_one_commit(repo_dir, cli):
    r = cli(repo_dir, "init")
    assert r.code == 0, r.err
    settings = yaml.safe_load((repo_dir / "mlreg.yaml").read_text())
    assert settings["lifecycle"]["initial"] == "development"
    assert settings["lifecycle"]["stages"]["champion"]["exclusive"] is True
    assert (repo_dir / "registry").is_dir()
    assert ".mlreg/" in (repo_dir / ".gitignore").read_text().split()
    assert git(repo_dir, "log", "--format=%s").splitlines()[0] == "mlreg: init registry (preset default)"
    files = git(repo_dir, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == [".gitignore", "mlreg.yaml", "registry/.gitattributes", "registry/.gitkeep"]
    assert git(repo_dir, "status", "--porcelain") == ""


def test_init_keeps_existing_gitignore_lines(repo_dir, cli):
    (repo_dir / ".gitignore").write_text("*.pyc")
    git(repo_dir, "add", ".gitignore")
    git(repo_dir, "commit", "-qm", "ignore")
    assert cli(repo_dir, "init").code == 0
    assert (repo_dir / ".gitignore").read_text() == "*.pyc\n.mlreg/\n/site/\n"


def test_init_presets(repo_dir, cli, tmp_path):
    for preset, initial in (("candidate", "none"), ("aliases", "none")):
        folder = tmp_path / preset
        folder.mkdir()
        git(folder, "init", "-q")
        assert cli(folder, "init", "--preset", preset).code == 0
        doc = yaml.safe_load((folder / "mlreg.yaml").read_text())
        assert doc["lifecycle"]["initial"] == initial
    assert doc["aliases"] == ["Staging", "Production"]


def test_init_twice_and_unknown_preset_and_outside_git_fail_cleanly(repo_dir, cli, tmp_path):
    assert cli(repo_dir, "init").code == 0
    head = git(repo_dir, "rev-parse", "HEAD")
    r = cli(repo_dir, "init")
    assert r.code == 1 and "mlreg.yaml already exists" in r.err
    assert git(repo_dir, "rev-parse", "HEAD") == head
    outside = tmp_path / "plain"
    outside.mkdir()
    r = cli(outside, "init")
    assert r.code == 1 and "not inside a git repository" in r.err and "Traceback" not in r.err
    assert not (outside / "mlreg.yaml").exists()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    r = cli(fresh, "init", "--preset", "nope")
    assert r.code == 2 and "unknown preset 'nope'" in r.err
    assert not (fresh / "mlreg.yaml").exists()


def test_init_in_repo_without_commits(tmp_path, cli):
    git(tmp_path, "init", "-q")
    assert cli(tmp_path, "init").code == 0
    assert git(tmp_path, "rev-list", "--count", "HEAD").strip() == "1"
