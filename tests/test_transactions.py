"""Every write is all-or-nothing: killed at each named step (MLREG_TEST_FAULT), the next mlreg command finishes
or undoes it, and the user's own changes, git fsck, a fresh clone and the user's next commit are all fine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlreg.api import Registry
from mlreg.storage.txn import STEPS

from conftest import git
from crash import assert_whole_or_nothing, run_mlreg, status, user_changes

BEFORE_COMMIT_POINT = ("after-hashing", "after-objects", "after-journal")


def _legacy(tmp: Path) -> Path:
    folder = tmp / "legacy" / "rl_agents" / "ppo_v0.1.0_20240102090000"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(
        json.dumps(
            {
                "model_name": "ppo",
                "model_version": "v0.1.0",
                "training_timestamp": "2024-01-02T09:00:00",
                "key_performance_metrics": {"sharpe_ratio": 1.1},
            }
        )
    )
    (folder / "model.zip").write_bytes(b"weights\r\n" * 100)
    return tmp / "legacy"


OPERATIONS = {  # name -> (arguments, which registry file shows it happened)
    "register": (lambda t: ["register", "m", "--from-dir", str(t["train"])], "registry/m/v3/metadata.json"),
    "promote": (lambda t: ["promote", "m@2", "beta", "--reason", "better"], None),
    "alias": (lambda t: ["alias", "set", "m", "Staging", "2"], None),
    "tag": (lambda t: ["tag", "set", "m@1", "owner", "ana"], None),
    "import": (lambda t: ["import", "dir", str(t["legacy"])], "registry/ppo/v1/metadata.json"),
    "branch": (lambda t: ["register", "m", "--from-dir", str(t["train"]), "--branch", "new-model"], None),
}
CASES = [
    (op, step)
    for op in OPERATIONS
    for step in STEPS
    if not (op == "branch" and step in ("after-journal", "after-index", "after-worktree"))
]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A registry with m v1, v2 (and the user's config isolated by conftest), built once and copied per test."""
    import datetime as dt

    base = tmp_path_factory.mktemp("template")
    root = base / "repo"
    root.mkdir()
    env_home = base / "home"
    env_home.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    (root / "README.md").write_text("hello\n")
    git(root, "add", "README.md")
    git(root, "commit", "-qm", "initial")
    reg = Registry(root, clock=lambda: dt.datetime(2025, 6, 10, tzinfo=dt.UTC))
    reg.init()
    for n in (1, 2):
        src = base / f"run{n}"
        src.mkdir()
        (src / "run_metadata.json").write_text(json.dumps({"run_name": f"run{n}", "metrics": {"rmse_val": 0.1 / n}}))
        (src / "model.txt").write_text(f"model {n}\n")
        reg.register("m", src)
    return root


@pytest.fixture
def setup(template, tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    train = tmp_path / "run3"
    train.mkdir()
    (train / "run_metadata.json").write_text(json.dumps({"run_name": "run3", "metrics": {"rmse_val": 0.01}}))
    (train / "model.bin").write_bytes(bytes(range(256)) * 4096)
    (train / "notes.txt").write_bytes(b"windows text\r\nline two\r\n")
    return root, {"train": train, "legacy": _legacy(tmp_path)}


@pytest.mark.parametrize("op, step", CASES)
def test_killed_at_each_step_is_whole_or_nothing(setup, tmp_path, op, step):
    root, inputs = setup
    args, marker = OPERATIONS[op]
    mine = user_changes(root)
    before = git(root, "rev-parse", "HEAD").strip()
    killed = run_mlreg(root, args(inputs), fault=step)
    assert killed.returncode == -9, killed.stderr
    moved = git(root, "rev-parse", "HEAD").strip() != before
    assert moved == (op != "branch" and step not in BEFORE_COMMIT_POINT)
    if moved:  # between the commit point and the end, git itself refuses to touch the index
        commit = git(root, "rev-parse", "HEAD").strip()
        refused = run_git(root, "commit", "-qam", "too early")
        assert refused.returncode != 0 and "index.lock" in refused.stderr
        assert git(root, "rev-parse", "HEAD").strip() == commit
    nxt = run_mlreg(root, ["list"])  # any command, even a read, finishes the interrupted one
    assert nxt.returncode == 0, nxt.stderr
    if moved:
        assert "mlreg: finished the interrupted" in nxt.stderr
        if marker:
            assert (root / marker).is_file()
    else:  # killed holding the index lock with its journal written: the next command undoes it and says so
        assert ("undid the interrupted" in nxt.stderr) == (step == "after-journal"), nxt.stderr
        assert git(root, "rev-parse", "HEAD").strip() == before
    if op == "branch" and step == "after-branch":
        assert git(root, "rev-parse", "-q", "--verify", "new-model").strip()
    assert_whole_or_nothing(root, mine, tmp_path)
    if not moved and op != "branch":  # nothing happened: the same command simply works now
        again = run_mlreg(root, args(inputs))
        assert again.returncode == 0, again.stderr


def run_git(root: Path, *args: str):
    import subprocess

    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def test_a_write_after_the_kill_finishes_it_first(setup, tmp_path):
    root, inputs = setup
    mine = user_changes(root)
    assert run_mlreg(root, ["promote", "m@2", "beta", "--reason", "r"], fault="after-index").returncode == -9
    r = run_mlreg(root, ["tag", "set", "m@2", "k", "v"])
    assert r.returncode == 0, r.stderr
    assert "finished the interrupted `promote m v2 to beta`" in r.stderr
    doc = json.loads((root / "registry/m/v2/metadata.json").read_text())
    assert doc["stage"] == "beta" and doc["tags"] == {"k": "v"}
    assert status(root) == mine


@pytest.mark.parametrize("whose", ["killed update-ref", "someone else"])
def test_a_ref_lock_left_by_a_killed_update_ref_is_released(setup, tmp_path, whose):
    """Killed inside `git update-ref HEAD` (the commit point), git leaves refs/heads/main.lock holding the new
    commit id: the next mlreg command removes it, or the user's own `git commit` would fail. A lock holding
    anything else is another process's and stays."""
    root, inputs = setup
    mine = user_changes(root)
    before = git(root, "rev-parse", "HEAD").strip()
    assert run_mlreg(root, ["promote", "m@2", "beta", "--reason", "r"], fault="after-journal").returncode == -9
    new = json.loads((root / ".git/mlreg-journal.json").read_text())["new"]
    lock = root / ".git/refs/heads/main.lock"
    lock.write_text((new if whose == "killed update-ref" else before) + "\n")  # what update-ref writes first
    nxt = run_mlreg(root, ["list"])
    assert nxt.returncode == 0 and "undid the interrupted `promote m v2 to beta`" in nxt.stderr, nxt.stderr
    assert git(root, "rev-parse", "HEAD").strip() == before
    if whose == "someone else":
        assert lock.is_file() and "refs/heads/main.lock" not in nxt.stderr
        refused = run_mlreg(root, ["promote", "m@2", "beta", "--reason", "r"])
        assert refused.returncode == 1 and ".git/refs/heads/main.lock exists" in refused.stderr
        lock.unlink()
    else:
        assert not lock.exists() and "removed the .git/refs/heads/main.lock" in nxt.stderr
    assert_whole_or_nothing(root, mine, tmp_path)  # ends with the user's own `git commit -am`


def test_bytes_found_in_a_file_being_written_are_restored_and_saved(setup, tmp_path):
    """A file the interrupted write was writing is mlreg's: whatever it holds is restored to the committed side,
    never kept as "your changes"; bytes that are not a torn prefix (an edit made meanwhile) are saved first."""
    root, inputs = setup
    assert run_mlreg(root, ["alias", "set", "m", "Staging", "2"], fault="after-index").returncode == -9
    (root / "registry/m/model.yaml").write_text("schema_version: 1\nname: m\ndescription: mine\n")
    r = run_mlreg(root, ["list"])
    assert "kept your changes" not in r.stderr and "restored registry/m/model.yaml" in r.stderr, r.stderr
    assert (root / "registry/m/model.yaml").read_bytes() == git_bytes(root, "HEAD:registry/m/model.yaml")
    assert "description: mine" in (root / ".git/mlreg-recovered/registry/m/model.yaml").read_text()
    assert status(root) == ""


@pytest.mark.parametrize("cut", [0, 0.5, -1])
def test_a_torn_write_is_restored_not_kept_as_your_changes(setup, tmp_path, cut):
    """Killed while git wrote a file of the settle phase, the file holds the first bytes of the new content (0 or
    114,688 bytes of ~160 KB in the kills seen): the next command restores it, and the user's next commit
    carries no truncated record."""
    root, inputs = setup
    mine = user_changes(root)
    assert run_mlreg(root, ["promote", "m@2", "beta", "--reason", "r"], fault="after-index").returncode == -9
    new = git_bytes(root, "HEAD:registry/m/v2/metadata.json")
    keep = len(new) - 1 if cut == -1 else int(len(new) * cut)
    (root / "registry/m/v2/metadata.json").write_bytes(new[:keep])  # what a kill inside checkout-index leaves
    r = run_mlreg(root, ["list"])
    assert r.returncode == 0 and "kept your changes" not in r.stderr, r.stderr
    assert (root / "registry/m/v2/metadata.json").read_bytes() == new
    assert not (root / ".git/mlreg-recovered").exists()  # a torn prefix is nobody's edit: nothing to save
    assert_whole_or_nothing(root, mine, tmp_path)


def test_a_killed_no_commit_write_leaves_no_temp_folder_behind(setup, tmp_path):
    """`register --no-commit` killed while filling its temp folder (registry/m/.v3.tmp-*/): the next command,
    any command, removes it, so the user's next `git add -A` cannot commit it."""
    root, inputs = setup
    killed = run_mlreg(
        root, ["register", "m", "--from-dir", str(inputs["train"]), "--no-commit"], fault="in-temp-folder"
    )
    assert killed.returncode == -9, killed.stderr
    assert list((root / "registry/m").glob(".v3.tmp-*"))
    r = run_mlreg(root, ["show", "m"])
    assert r.returncode == 0 and "removed registry/m/.v3.tmp-" in r.stderr, r.stderr
    assert not list((root / "registry/m").glob(".v*")) and status(root) == ""
    again = run_mlreg(root, ["register", "m", "--from-dir", str(inputs["train"]), "--no-commit"])
    assert again.returncode == 0 and (root / "registry/m/v3/model.bin").is_file(), again.stderr


def test_validate_refuses_a_temp_folder_of_a_killed_write(setup, cli):
    root, inputs = setup
    stale = root / "registry/m/.v3.tmp-k1ll3d"
    stale.mkdir()
    (stale / "model.bin").write_bytes(b"half")
    r = cli(root, "validate")
    assert r.code == 1 and "registry/m/.v3.tmp-k1ll3d: left behind by an interrupted mlreg write" in r.out + r.err


def git_bytes(root: Path, spec: str) -> bytes:
    import subprocess

    return subprocess.run(["git", "cat-file", "-p", spec], cwd=root, capture_output=True, check=True).stdout


@pytest.mark.parametrize("lock", ["index.lock", "HEAD.lock", "refs/heads/main.lock"])
@pytest.mark.parametrize(
    "command", [["register", "m", "--from-dir", "{train}"], ["promote", "m@2", "beta", "--reason", "r"]]
)
def test_a_held_git_lock_is_refused_before_anything_changes(setup, cli, lock, command):
    root, inputs = setup
    mine = user_changes(root)
    before = git(root, "rev-parse", "HEAD").strip()
    (root / ".git" / lock).write_text("")
    r = cli(root, *[a.format(**inputs) for a in command])
    assert r.code == 1 and f".git/{lock} exists" in r.err and "delete" in r.err and len(r.err.splitlines()) == 1
    assert git(root, "rev-parse", "HEAD").strip() == before and status(root) == mine
    assert (root / ".git" / lock).read_text() == ""  # a lock that is not mlreg's is never removed
    assert not (root / "registry/m/v3").exists()


def test_the_commit_point_is_a_compare_and_swap(setup, tmp_path):
    """Another commit landing while mlreg prepares (here from a prepare step, the hook object storage uses)
    makes the compare-and-swap fail: nothing changes and the other commit stays."""
    from mlreg.storage import gitops, txn

    root, inputs = setup
    mine = user_changes(root)
    theirs = []

    def someone_commits(t):
        sha = git(root, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "someone else's commit").strip()
        git(root, "update-ref", "HEAD", sha)
        theirs.append(sha)

    change = gitops.WriteSet("tag", "m", 1, "tag set m v1 k=v", {"registry/m/v1/extra.txt": b"x\n"})
    with pytest.raises(gitops.GitError, match="HEAD was not moved, nothing changed"):
        txn.apply(root, change, prepare_steps=[someone_commits])
    assert git(root, "rev-parse", "HEAD").strip() == theirs[0]
    assert not (root / "registry/m/v1/extra.txt").exists() and status(root) == mine
    assert not (root / ".git/index.lock").exists() and not (root / ".git/mlreg-journal.json").exists()
