"""Real `kill -9` at random moments of a 200 MB register and of promotes (20 kills in all).

After each: the next mlreg command finishes or undoes it; `git status` shows only the user's own changes,
`git fsck` is clean, a fresh clone passes validate and verify, and the user's `git commit -am` touches no
registry file. Runs in the plain test suite (marker `crash`; `-m "not crash"` skips it). Size, kill counts and
seed: MLREG_KILL_MB (200), MLREG_KILL_REGISTERS (14), MLREG_KILL_PROMOTES (6), MLREG_KILL_SEED.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mlreg.api import Registry

from conftest import git
from crash import assert_whole_or_nothing, mlreg_process, run_mlreg, user_changes

pytestmark = pytest.mark.crash

MB = int(os.environ.get("MLREG_KILL_MB", "200"))
REGISTERS = int(os.environ.get("MLREG_KILL_REGISTERS", "14"))
PROMOTES = int(os.environ.get("MLREG_KILL_PROMOTES", "6"))
SEED = int(os.environ.get("MLREG_KILL_SEED", str(time.time_ns() % 100_000)))
NEXT_STAGE = {"development": "beta", "beta": "champion", "champion": "archived", "archived": "development"}


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory) -> Path:
    """A training folder of MB megabytes of random bytes (built once for the module)."""
    folder = tmp_path_factory.mktemp("big") / "run"
    (folder / "shards").mkdir(parents=True)
    shards = min(50, MB // 4)
    with open(folder / "model.bin", "wb") as f:
        for _ in range(MB - shards):
            f.write(os.urandom(1 << 20))
    for i in range(shards):
        (folder / "shards" / f"part-{i:03d}.bin").write_bytes(os.urandom(1 << 20))
    (folder / "notes.txt").write_bytes(b"trained on windows\r\n")
    (folder / "run_metadata.json").write_text(json.dumps({"run_name": "big", "metrics": {"rmse_val": 0.05}}))
    return folder


def fresh_repo(where: Path) -> Path:
    where.mkdir(parents=True)
    git(where, "init", "-q")
    (where / "README.md").write_text("hello\n")
    git(where, "add", "README.md")
    git(where, "commit", "-qm", "initial")
    Registry(where).init()
    return where


def kill_at(root: Path, args: list[str], delay: float) -> str:
    """Start `mlreg ARGS`, kill -9 it after `delay` seconds unless it finished; then run the next command."""
    p = mlreg_process(root, args)
    try:
        p.communicate(timeout=delay)  # (communicate, not wait: the pipes are read and closed)
        outcome = "finished"
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # mlreg and the git command it runs, as a crash would
        p.communicate()
        outcome = "killed"
    nxt = run_mlreg(root, ["list"])
    assert nxt.returncode == 0, nxt.stderr
    note = next((line for line in nxt.stderr.splitlines() if "interrupted" in line), "")
    told = "finished it" if "finished" in note else "undid it" if note else ""
    return f"{outcome} after {delay:.2f} s" + (f"; the next command {told}" if told else "")


def test_kill_9_at_random_moments_of_a_large_register_and_of_promotes(big_folder, tmp_path):
    rng = random.Random(SEED)
    report = [f"seed {SEED} (rerun with MLREG_KILL_SEED={SEED})"]
    calibration = fresh_repo(tmp_path / "calibration")
    mine = user_changes(calibration, "calibration")
    start = time.monotonic()
    r = run_mlreg(calibration, ["register", "m", "--from-dir", str(big_folder), "--allow-large"])
    full = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    assert_whole_or_nothing(calibration, mine, tmp_path / "checks-calibration")
    report.append(f"an uninterrupted register of {MB} MB took {full:.2f} s")

    for i in range(REGISTERS):
        root = fresh_repo(tmp_path / f"register-{i}")
        mine = user_changes(root, str(i))
        what = kill_at(
            root, ["register", "m", "--from-dir", str(big_folder), "--allow-large"], rng.uniform(0.2, 1.2) * full
        )
        committed = "registry/m/v1/metadata.json" in git(root, "ls-tree", "-r", "--name-only", "HEAD")
        assert committed == (root / "registry/m/v1/metadata.json").is_file()
        assert_whole_or_nothing(root, mine, tmp_path / f"checks-register-{i}")
        report.append(f"register {i + 1}: {what} -> {'v1 committed' if committed else 'nothing committed'}")
        shutil.rmtree(root)
        shutil.rmtree(tmp_path / f"checks-register-{i}")

    promote_time = None
    for i in range(PROMOTES + 1):
        stage = json.loads((calibration / "registry/m/v1/metadata.json").read_text())["stage"]
        args = ["promote", "m@1", NEXT_STAGE[stage], "--reason", f"kill test {i}"]
        mine = user_changes(calibration, f"promote {i}")
        if promote_time is None:  # the first promote runs to the end: its time bounds the random delays
            start = time.monotonic()
            assert run_mlreg(calibration, args).returncode == 0
            promote_time = time.monotonic() - start
            what = f"finished in {promote_time:.2f} s (calibration)"
        else:
            what = kill_at(calibration, args, rng.uniform(0.2, 1.2) * promote_time)
        now = json.loads((calibration / "registry/m/v1/metadata.json").read_text())["stage"]
        assert now in (stage, NEXT_STAGE[stage])
        assert json.loads(git(calibration, "show", "HEAD:registry/m/v1/metadata.json"))["stage"] == now
        assert_whole_or_nothing(calibration, mine, tmp_path / f"checks-promote-{i}")
        report.append(f"promote {i + 1} {stage} -> {NEXT_STAGE[stage]}: {what} -> now {now}")
        shutil.rmtree(tmp_path / f"checks-promote-{i}")
    print("\n".join(report))
