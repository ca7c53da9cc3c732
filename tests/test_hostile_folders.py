"""Training folders an adversarial tester builds, names that break checkouts, registry files already broken:
each is one clear error that changes nothing (except the 30,000-file folder, which registers)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mlreg.api import Registry
from mlreg.errors import MlregError

from conftest import git
from crash import run_mlreg


def snapshot(root: Path):
    return (
        git(root, "rev-parse", "HEAD"),
        git(root, "ls-files", "-s"),
        git(root, "status", "--porcelain", "--untracked-files=all"),
    )


def refused(cli, reg, *args: str) -> str:
    """Run mlreg; it must fail with one `Error:` line and change nothing. Returns the line."""
    before = snapshot(reg.root)
    r = cli(reg.root, *args)
    assert r.code == 1, (r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "unexpected" not in lines[0], r.err
    assert snapshot(reg.root) == before
    return lines[0]


@pytest.fixture
def src(training):
    return training()


def test_a_symlink_to_a_file_outside_is_refused_and_never_committed(reg, src, tmp_path, cli):
    secret = tmp_path / "secret.env"
    secret.write_text("AWS_SECRET_ACCESS_KEY=hunter2\n")
    (src / "config.env").symlink_to(secret)
    err = refused(cli, reg, "register", "m", "--from-dir", str(src))
    assert f"config.env -> {secret} (outside the folder)" in err and "--follow-symlinks" in err
    refused(cli, reg, "register", "m", "--from-dir", str(src), "--follow-symlinks")  # outside: never copied
    objects = git(reg.root, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    assert not [o for o in objects if "hunter2" in git(reg.root, "cat-file", "-p", o)]


def test_symlinked_folders_and_dangling_links_are_listed(reg, src, tmp_path, cli):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "weights.bin").write_bytes(b"w")
    (src / "shared").symlink_to(tmp_path / "shared", target_is_directory=True)
    (src / "gone.bin").symlink_to(tmp_path / "nothing-here")
    err = refused(cli, reg, "register", "m", "--from-dir", str(src))
    assert "shared -> " in err and "gone.bin -> " in err and "(dangling)" in err


def test_follow_symlinks_copies_the_bytes_of_targets_inside_the_folder(reg, src, cli):
    (src / "best").mkdir()
    (src / "best" / "model.bin").write_bytes(b"\x00weights\r\n")
    (src / "latest.bin").symlink_to(src / "best" / "model.bin")
    (src / "loop").symlink_to(src, target_is_directory=True)  # a link back up: not walked twice
    r = cli(reg.root, "register", "m", "--from-dir", str(src), "--follow-symlinks")
    assert r.code == 0, r.err
    copied = reg.root / "registry/m/v1/latest.bin"
    assert not copied.is_symlink() and copied.read_bytes() == b"\x00weights\r\n"
    assert git(reg.root, "ls-files", "-s", "registry/m/v1/latest.bin").startswith("100644 ")
    assert Registry(reg.root).validate() == []


def test_a_fifo_named_run_metadata_is_refused_instead_of_hanging(reg, src):
    (src / "run_metadata.json").unlink()
    os.mkfifo(src / "run_metadata.json")
    before = snapshot(reg.root)
    r = run_mlreg(reg.root, ["register", "m", "--from-dir", str(src)])  # times out (fails) if it hangs
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "run_metadata.json is a FIFO (named pipe)" in r.stderr and "only regular files and folders" in r.stderr
    assert snapshot(reg.root) == before


def test_fifos_and_sockets_anywhere_are_refused(reg, src, cli, monkeypatch):
    os.mkfifo(src / "pipe")
    (src / "sub").mkdir()
    monkeypatch.chdir(src / "sub")  # a socket's path is limited to 107 bytes: bind a relative one
    with socket.socket(socket.AF_UNIX) as s:
        s.bind("sock")
        err = refused(cli, reg, "register", "m", "--from-dir", str(src))
    assert "pipe is a FIFO" in err and "sub/sock is a socket" in err


def test_an_empty_folder_is_refused(reg, tmp_path, cli):
    (tmp_path / "empty" / "nested").mkdir(parents=True)
    err = refused(cli, reg, "register", "m", "--from-dir", str(tmp_path / "empty"))
    assert "the training folder has no files" in err


def test_an_unreadable_file_is_named(reg, src):
    """root reads everything: as root, mlreg runs without the capabilities that let it ignore permissions."""
    (src / "secret.bin").write_bytes(b"s")
    os.chmod(src / "secret.bin", 0)
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv (util-linux) to drop the capabilities that ignore permissions")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    before = snapshot(reg.root)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    r = subprocess.run(
        [*prefix, sys.executable, "-m", "mlreg", "register", "m", "--from-dir", str(src)],
        cwd=reg.root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "cannot read secret.bin (permission denied)" in r.stderr
    assert snapshot(reg.root) == before


def test_thirty_thousand_files_register(reg, tmp_path):
    src = tmp_path / "run"
    (src / "data").mkdir(parents=True)
    for shard in range(30):
        folder = src / "data" / f"shard_{shard:03d}_features_2025-10-08T14-58-09"
        folder.mkdir()
        for i in range(1000):
            (folder / f"part-{shard * 1000 + i:05d}-of-30000-c000.snappy.parquet").write_bytes(b"%d" % i)
    (src / "run_metadata.json").write_text(json.dumps({"run_name": "big"}))
    out = reg.register("m", src)
    assert len(out.record.artifacts) == 30001
    assert len(git(reg.root, "ls-tree", "-r", "--name-only", "HEAD", "registry/m/v1").split()) == 30002
    assert git(reg.root, "status", "--porcelain") == ""
    assert Registry(reg.root).validate() == []


@pytest.mark.parametrize(
    "broken, content",
    [
        ("registry/m/model.yaml", "name: [unclosed\n"),
        ("registry/m/v1/metadata.json", '{"version": 1,'),
        ("registry/m/v1/metadata.json", '{"schema_version": 1}'),
    ],
)
def test_register_refuses_while_a_file_of_the_model_is_malformed(reg, training, cli, broken, content):
    reg.register("m", training())
    (reg.root / broken).write_text(content)
    git(reg.root, "commit", "-qam", "broken by hand")
    before = snapshot(reg.root)
    r = cli(reg.root, "register", "m", "--from-dir", str(training()))
    assert r.code == 1 and broken in r.err and "register refuses to add to model 'm'" in r.err
    assert "unexpected" not in r.err and snapshot(reg.root) == before


def test_an_uncommitted_version_folder_is_never_skipped_over(reg, training, cli):
    reg.register("m", training())
    assert cli(reg.root, "register", "m", "--from-dir", str(training()), "--no-commit").code == 0
    err = refused(cli, reg, "register", "m", "--from-dir", str(training()))
    assert "registry/m/v2/" in err and "uncommitted" in err


@pytest.mark.parametrize("name", ["CON", "nul.txt", "aux", "Com1", "lpt9.model", "model."])
def test_windows_reserved_model_names_are_refused(reg, src, cli, name):
    err = refused(cli, reg, "register", name, "--from-dir", str(src))
    assert "cannot be checked out on Windows" in err


def test_a_model_name_differing_only_in_case_is_refused(reg, training, cli):
    reg.register("model", training())
    err = refused(cli, reg, "register", "Model", "--from-dir", str(training()))
    assert "collides with the existing model 'model'" in err


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"aux.txt": "x"}, "'aux.txt' is a reserved name on Windows"),
        ({"sub/CON/w.bin": "x"}, "'CON' is a reserved name on Windows"),
        ({"a:b.txt": "x"}, "holds a character Windows does not allow"),
        ({"Weights.bin": "x", "weights.bin": "y"}, "differ only in letter case"),
    ],
)
def test_artifact_names_that_break_checkouts_are_refused(reg, training, cli, files, expected):
    err = refused(cli, reg, "register", "m", "--from-dir", str(training(files=files)))
    assert expected in err


def test_python_api_raises_the_same_error(reg, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MlregError, match="no files"):
        reg.register("m", tmp_path / "empty")
