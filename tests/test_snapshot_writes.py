"""Writes read one snapshot: version numbers and the records a write builds on come from the commit it extends,
never from the work tree; odd git states (a stopped rebase, merge, cherry-pick, revert or bisect, a detached
HEAD, a shallow clone) are refused, naming the state. Real git throughout: branches, sparse and shallow clones."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mlreg.api import Registry
from mlreg.errors import MlregError

from conftest import git
from helpers import world


def head(root: Path, ref: str = "HEAD") -> str:
    return git(root, "rev-parse", ref).strip()


def shown(root: Path, spec: str) -> dict:
    return json.loads(git(root, "show", spec))


def versions_at(root: Path, ref: str, model: str = "m") -> list[str]:
    return sorted(git(root, "ls-tree", "--name-only", f"{ref}:registry/{model}").split())


@world
def two(reg, training) -> None:
    """m v1 (promoted to beta, alias Staging) and v2, committed on main (built once per module)."""
    reg.register("m", training())
    reg.register("m", training())
    reg.promote("m", "1", "beta", reason="good")
    reg.alias_set("m", "Staging", "1")


def test_a_checkout_during_register_cannot_rewrite_the_other_branchs_version(two, training, clock):
    """The user switches to `other` (which has its own v3) while a register on main is under way: the register
    must not commit `register m v3` over other's v3; it stops and nothing changes."""
    root = two.root
    git(root, "switch", "-q", "-c", "other")
    two.register("m", training(), description="other's own v3")
    theirs = head(root, "other")
    git(root, "switch", "-q", "main")
    ours = head(root, "main")

    switched = []

    def clock_that_switches():  # called after the numbers were read, before the commit: the user's checkout
        if not switched:
            git(root, "switch", "-q", "other")
            switched.append(True)
        return clock()

    with pytest.raises(MlregError, match="HEAD switched from main to other"):
        Registry(root, clock=clock_that_switches).register("m", training())
    assert head(root, "other") == theirs and head(root, "main") == ours
    assert shown(root, "other:registry/m/v3/metadata.json")["description"] == "other's own v3"
    assert git(root, "status", "--porcelain") == ""


def test_a_sparse_checkout_cannot_make_register_overwrite_v1(two, training):
    """registry/m/ left out of a sparse checkout: register still sees v1 and v2 in HEAD and adds v3; v1's stage
    and history and the model's aliases stay as committed."""
    root = two.root
    v1 = git(root, "show", "HEAD:registry/m/v1/metadata.json")
    aliases = git(root, "show", "HEAD:registry/m/model.yaml")
    git(root, "sparse-checkout", "set", "--no-cone", "/*", "!/registry/m/")
    assert not (root / "registry/m").exists()
    done = Registry(root).register("m", training())
    assert done.version == 3
    assert git(root, "show", "HEAD:registry/m/v1/metadata.json") == v1
    assert git(root, "show", "HEAD:registry/m/model.yaml") == aliases
    assert versions_at(root, "HEAD") == ["model.yaml", "v1", "v2", "v3"]


def test_a_deleted_folder_in_the_work_tree_is_not_a_free_number_for_branch(two, training):
    """`--branch` reads HEAD's commit, not the work tree: a version folder deleted (uncommitted) there is
    still taken."""
    root = two.root
    import shutil

    shutil.rmtree(root / "registry/m/v2")
    done = Registry(root).register("m", training(), branch="feat")
    assert done.version == 3
    assert versions_at(root, "feat") == ["model.yaml", "v1", "v2", "v3"]
    assert git(root, "show", "feat:registry/m/v2/metadata.json") == git(
        root, "show", "main:registry/m/v2/metadata.json"
    )


def test_branch_beside_an_uncommitted_no_commit_version_is_contiguous(two, training):
    root = two.root
    two.register("m", training(), commit=False)  # v3 in the work tree only
    done = Registry(root).register("m", training(), branch="feat")
    assert done.version == 3
    assert versions_at(root, "feat") == ["model.yaml", "v1", "v2", "v3"]
    assert (root / "registry/m/v3").is_dir() and head(root) == head(root, "main")


def test_a_shallow_clone_refuses_to_register(two, training, tmp_path):
    """v3 was registered and deleted; a clone of depth 1 cannot see that, so it would reuse v3: refused."""
    root = two.root
    two.register("m", training())
    git(root, "rm", "-rq", "registry/m/v3")
    git(root, "commit", "-qm", "drop v3")
    (root / "README.md").write_text("later\n")
    git(root, "commit", "-qam", "later")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{root}", str(clone))
    before = head(clone)
    with pytest.raises(MlregError, match="shallow clone"):
        Registry(clone).register("m", training())
    assert head(clone) == before and not (clone / "registry/m/v3").exists()
    git(clone, "fetch", "-q", "--unshallow")
    with pytest.raises(MlregError, match="v3 existed and was deleted"):  # the whole history: the usual refusal
        Registry(clone).register("m", training())


def _conflict(root: Path, op: str) -> None:
    """Stop `op` on a conflict in README.md (or start a bisect)."""
    base = head(root)
    git(root, "switch", "-q", "-c", "theirs")
    (root / "README.md").write_text("theirs\n")
    git(root, "commit", "-qam", "theirs")
    git(root, "switch", "-q", "main")
    (root / "README.md").write_text("ours\n")
    git(root, "commit", "-qam", "ours")
    args = {
        "rebase": ["rebase", "theirs"],
        "merge": ["merge", "theirs"],
        "cherry-pick": ["cherry-pick", "theirs"],
        "revert": ["revert", "--no-edit", "HEAD"],
        "bisect": ["bisect", "start", "HEAD", base],
    }[op]
    if op == "revert":  # reverting an older commit whose change a later one rewrote conflicts
        (root / "README.md").write_text("ours, edited again\n")
        git(root, "commit", "-qam", "again")
        args = ["revert", "--no-edit", "HEAD~1"]
    r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    assert (r.returncode != 0) == (op != "bisect"), r.stdout + r.stderr


@pytest.mark.parametrize(
    "op, named",
    [
        ("rebase", "a rebase"),
        ("merge", "a merge"),
        ("cherry-pick", "a cherry-pick"),
        ("revert", "a revert"),
        ("bisect", "a bisect"),
    ],
)
def test_a_write_during_a_stopped_git_operation_is_refused(two, training, cli, op, named):
    root = two.root
    _conflict(root, op)
    before, state = head(root), git(root, "status", "--porcelain")
    r = cli(root, "register", "m", "--from-dir", str(training()))
    assert r.code == 1 and f"{named} is in progress" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert head(root) == before and git(root, "status", "--porcelain") == state
    assert not (root / "registry/m/v3").exists()
    r = cli(root, "promote", "m@2", "beta", "--reason", "r", "--no-commit")
    assert r.code == 1 and f"{named} is in progress" in r.err


def test_a_detached_head_is_refused_unless_asked(two, training, cli):
    root = two.root
    git(root, "switch", "-q", "--detach", "HEAD")
    before = head(root)
    r = cli(root, "register", "m", "--from-dir", str(training()))
    assert r.code == 1 and "HEAD is detached" in r.err and "--allow-detached" in r.err, r.err
    assert head(root) == before and not (root / "registry/m/v3").exists()
    r = cli(root, "register", "m", "--from-dir", str(training()), "--branch", "keep-it")  # a branch keeps it
    assert r.code == 0 and versions_at(root, "keep-it") == ["model.yaml", "v1", "v2", "v3"], r.err
    r = cli(root, "promote", "m@2", "beta", "--reason", "r", "--allow-detached")
    assert r.code == 0, r.err
    assert head(root) != before and shown(root, "HEAD:registry/m/v2/metadata.json")["stage"] == "beta"
    assert head(root, "main") == before  # no branch moved
    done = Registry(root, allow_detached=True).alias_set("m", "Prod", "2")
    assert done.commit == head(root)


def test_writes_refuse_outside_an_initialised_registry(repo_dir, training, cli):
    """No mlreg.yaml: register says to run `mlreg init` and commits nothing, creates nothing."""
    before = head(repo_dir)
    r = cli(repo_dir, "register", "m", "--from-dir", str(training()))
    assert r.code == 1 and "mlreg init" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert head(repo_dir) == before and not (repo_dir / "registry").exists()
    assert git(repo_dir, "status", "--porcelain") == ""


def test_an_uncommitted_init_allows_no_commit_writes_only(repo_dir, training, cli):
    assert cli(repo_dir, "init", "--no-commit").code == 0
    before = head(repo_dir)
    r = cli(repo_dir, "register", "m", "--from-dir", str(training()))
    assert r.code == 1 and "mlreg.yaml is not committed yet" in r.err, r.err
    assert head(repo_dir) == before and not (repo_dir / "registry/m").exists()
    r = cli(repo_dir, "register", "m", "--from-dir", str(training()), "--no-commit")
    assert r.code == 0 and (repo_dir / "registry/m/v1/metadata.json").is_file(), r.err


def test_a_promote_reads_the_committed_champion_not_a_sparse_work_tree(two, training):
    """With v1 (the champion) outside a sparse checkout, promoting v2 to champion still demotes v1: there is
    never a second champion."""
    root = two.root
    two.promote("m", "1", "champion", reason="best")
    two.promote("m", "2", "beta", reason="next")
    git(root, "sparse-checkout", "set", "--no-cone", "/*", "!/registry/m/v1/")
    done = Registry(root).promote("m", "2", "champion", reason="better")
    assert done.demoted == [1]
    assert shown(root, "HEAD:registry/m/v1/metadata.json")["stage"] != "champion"
    assert shown(root, "HEAD:registry/m/v2/metadata.json")["stage"] == "champion"
