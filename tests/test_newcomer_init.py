"""`mlreg init` ignores what mlreg writes beside the registry: `.mlreg/` and `mlreg report`'s default `site/`."""

from __future__ import annotations

from conftest import git


def test_report_output_is_ignored_after_init(repo_dir, cli):
    assert cli(repo_dir, "init").code == 0
    assert "/site/" in (repo_dir / ".gitignore").read_text().split()
    r = cli(repo_dir, "report")
    assert r.code == 0, r.err
    assert (repo_dir / "site/index.html").is_file()
    assert git(repo_dir, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_site_folder_deeper_in_the_repository_is_not_ignored(repo_dir, cli):
    assert cli(repo_dir, "init").code == 0
    (repo_dir / "docs/site").mkdir(parents=True)
    (repo_dir / "docs/site/page.md").write_text("mine\n")
    assert git(repo_dir, "status", "--porcelain", "--untracked-files=all").split() == ["??", "docs/site/page.md"]


def test_lines_already_there_are_not_repeated(repo_dir, cli):
    (repo_dir / ".gitignore").write_text("/site/\n")
    git(repo_dir, "add", ".gitignore")
    git(repo_dir, "commit", "-qm", "ignore")
    assert cli(repo_dir, "init").code == 0
    assert (repo_dir / ".gitignore").read_text() == "/site/\n.mlreg/\n"
