"""Files kept in git are checked on the way out of `get` and `pull`: never through a symlink (a crafted remote's
symlink blob is refused), and their bytes must match the record."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from conftest import git

SECRET = "host secret, not a model\n"  # bytes of the host's that must never leave it


@pytest.fixture
def crafted(reg, training, tmp_path):
    """A registry whose v1 keeps model.bin (6 bytes) in git; the caller then rewrites it behind mlreg's back."""
    reg.register("m", training(files={"model.bin": "abcdef"}))
    host = tmp_path / "host" / "secret.txt"
    host.parent.mkdir()
    host.write_text(SECRET)
    return reg.root, host


def replace_with_symlink(root: Path, rel: str, target: Path) -> None:
    path = root / "registry/m/v1" / rel
    path.unlink()
    os.symlink(target, path)
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"{rel} is now a symlink")


def holds_secret(folder: Path) -> bool:
    return any(p.is_file() and SECRET in p.read_text(errors="replace") for p in folder.rglob("*"))


def test_get_refuses_a_symlink_blob_in_a_crafted_remote(crafted, tmp_path, cli):
    root, host = crafted
    replace_with_symlink(root, "model.bin", host)
    assert git(root, "ls-tree", "HEAD", "registry/m/v1/model.bin").startswith("120000 ")  # a git symlink blob
    out = tmp_path / "out"
    r = cli(tmp_path, "get", str(root), "m@1", "-o", str(out))
    assert r.code == 1
    assert r.err.strip() == (
        "Error: m v1: model.bin is a symbolic link in git (or lies under one); mlreg never "
        "hands out a file through a link"
    )
    assert not out.exists() or not holds_secret(out)


def test_get_refuses_a_symlinked_folder_inside_the_version(reg, training, tmp_path, cli):
    reg.register("m", training(files={"sub/model.bin": "abcdef"}))
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    (hostdir / "model.bin").write_text(SECRET)
    sub = reg.root / "registry/m/v1/sub"
    (sub / "model.bin").unlink()
    sub.rmdir()
    os.symlink(hostdir, sub)
    git(reg.root, "add", "-A")
    git(reg.root, "commit", "-qm", "sub is a symlink")
    r = cli(tmp_path, "get", str(reg.root), "m@1", "-o", str(tmp_path / "out"))
    assert r.code == 1 and "sub/model.bin is a symbolic link in git (or lies under one)" in r.err
    assert not (tmp_path / "out").exists() or not holds_secret(tmp_path / "out")


def test_get_and_pull_refuse_in_git_bytes_that_differ_from_the_record(crafted, tmp_path, cli):
    root, _ = crafted
    (root / "registry/m/v1/model.bin").write_text("ABCDEFGH")
    git(root, "commit", "-qam", "changed bytes, same record")
    want = hashlib.sha256(b"abcdef").hexdigest()[:12]
    for args, cwd in (
        (("get", str(root), "m@1", "-o", str(tmp_path / "got")), tmp_path),
        (("pull", "m@1", "-o", str(tmp_path / "pulled")), root),
    ):
        r = cli(cwd, *args)
        assert r.code == 1, args
        assert "m v1: model.bin (in git): 8 bytes with sha256" in r.err and f"6 bytes with {want}..." in r.err
    assert not (tmp_path / "got/model.bin").exists() and not (tmp_path / "pulled/model.bin").exists()


def test_the_legal_in_git_version_still_comes_out(crafted, tmp_path, cli):
    root, _ = crafted
    r = cli(tmp_path, "get", str(root), "m@1", "-o", str(tmp_path / "got"))
    assert r.code == 0, r.err
    assert (tmp_path / "got/model.bin").read_text() == "abcdef"


def test_pull_names_a_fifo_in_the_version_folder_and_never_reads_it(crafted, tmp_path):
    import subprocess
    import sys

    root, _ = crafted
    path = root / "registry/m/v1/model.bin"
    path.unlink()
    os.mkfifo(path)  # nobody ever writes to it: reading it would wait forever
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mlreg", "pull", "m@1", "-o", str(tmp_path / "out")],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("pull is still reading the FIFO after 60 s")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Error: m v1: model.bin (in git): not a plain file (a FIFO, a device or a folder); not handed out"
    )
    assert not (tmp_path / "out/model.bin").exists()
