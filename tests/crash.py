"""Shared by the crash tests: a user's own changes, a killed mlreg, and what must hold afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlreg.api import Registry

from conftest import git

HERE = Path(__file__).resolve().parent.parent


def user_changes(root: Path, tag: str = "") -> str:
    """A staged file, an unstaged edit and an untracked file: what every write must leave alone."""
    (root / "README.md").write_text(f"edited by the user, not staged {tag}\n")
    (root / "staged.txt").write_text(f"staged by the user {tag}\n")
    git(root, "add", "staged.txt")
    (root / "notes.txt").write_text("untracked\n")
    return status(root)


def status(root: Path) -> str:
    return git(root, "status", "--porcelain", "--untracked-files=all")


def mlreg_process(root: Path, args: list[str], fault: str | None = None) -> subprocess.Popen:
    """`mlreg ARGS` as its own process (so it can be killed like a real one)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    env.pop("MLREG_TEST_FAULT", None)
    if fault:
        env["MLREG_TEST_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "mlreg", *args],
        cwd=root,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_mlreg(root: Path, args: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    p = mlreg_process(root, args, fault)
    out, err = p.communicate(timeout=300)
    return subprocess.CompletedProcess(args, p.returncode, out, err)


def assert_whole_or_nothing(root: Path, user_status: str, tmp: Path) -> None:
    """After recovery: only the user's changes show, fsck is clean, a fresh clone validates and verifies, and
    the user's next `git commit -am` touches no registry file."""
    assert status(root) == user_status
    assert not (root / ".git/index.lock").exists() and not (root / ".git/mlreg-journal.json").exists()
    fsck = subprocess.run(["git", "fsck", "--no-dangling"], cwd=root, capture_output=True, text=True)
    assert fsck.returncode == 0 and not fsck.stdout.strip(), fsck.stdout + fsck.stderr
    tmp.mkdir(parents=True, exist_ok=True)
    clone = tmp / f"clone-{len(list(tmp.glob('clone-*')))}"
    cloned = subprocess.run(["git", "clone", "-q", str(root), str(clone)], cwd=tmp, capture_output=True, text=True)
    assert cloned.returncode == 0, cloned.stderr
    fresh = Registry(clone)
    assert fresh.validate() == []
    bad = [c for name in fresh.files.model_names() for c in fresh.verify(name) if c.status != "ok"]
    assert bad == []
    git(root, "commit", "-qam", "the user's own commit")
    touched = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert touched and not [p for p in touched if p.startswith("registry/") or p == "mlreg.yaml"], touched
