"""Every download stops at the recorded size and is checked before it enters the cache; the temporary files of a
killed pull are removed by the next pull (those of a running pull are not)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git
from storekit import stored  # noqa: F401  (fixture: btc v1 in the store)

HERE = Path(__file__).resolve().parent.parent.parent
FSIZE_GUARD = 64 << 20  # a runaway download is stopped by the kernel here instead of filling the disk


def mlreg_process(root: Path, *args: str) -> subprocess.Popen:
    """`mlreg ARGS` as its own process, never able to write a file past FSIZE_GUARD (the shell's ulimit -f; sh
    counts it in blocks of 512 bytes or more)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    guarded = ["sh", "-c", f'ulimit -f {FSIZE_GUARD // 1024} && exec "$@"', "sh"]
    return subprocess.Popen(
        [*guarded, sys.executable, "-m", "mlreg", *args],
        cwd=root,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def point_at(root: Path, rel: str, uri: str) -> dict:
    """Commit a record whose artifact `rel` has another uri (sha256 and size unchanged); returns that artifact."""
    path = root / "registry/btc/v1/metadata.json"
    doc = json.loads(path.read_text())
    art = next(a for a in doc["artifacts"] if a["path"] == rel)
    art["uri"] = uri
    path.write_text(json.dumps(doc, indent=2) + "\n")
    git(root, "commit", "-qam", f"{rel} -> {uri}")
    return art


def cache_bytes(cache: Path) -> int:
    return sum(p.stat().st_size for sub in ("files", "tmp") for p in (cache / sub).rglob("*") if p.is_file())


@pytest.mark.parametrize("store", ["local"], indirect=True)
def test_a_record_pointing_at_dev_zero_stops_at_its_size(stored, tmp_path, own_cache):
    reg = stored
    art = point_at(reg.root, "sub/weights.bin", "file:///dev/zero")
    p = mlreg_process(reg.root, "pull", "btc@latest", "-o", str(tmp_path / "out"))
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1, (p.returncode, err[-500:])
    assert err.strip().splitlines() == [
        (
            f"Error: file:///dev/zero: holds more than the {art['size']} bytes the record says; the download was "
            "stopped there and nothing was kept"
        )
    ]
    assert cache_bytes(own_cache) <= sum(
        a["size"] for a in json.loads((reg.root / "registry/btc/v1/metadata.json").read_text())["artifacts"]
    )
    assert not (own_cache / "files" / art["sha256"][:2] / art["sha256"][2:]).exists()
    assert not (tmp_path / "out/sub/weights.bin").exists()
    assert list((own_cache / "tmp").glob("dl-*")) == []


def test_an_object_bigger_than_its_record_is_refused_and_not_cached(stored, store, tmp_path, own_cache):
    reg = stored
    art = next(a for a in reg.get("btc", "latest").record.artifacts if a.path == "sub/weights.bin")
    store.write(art.uri, b"w" * 5000 + b"z" * (3 << 20))
    from mlreg.errors import MlregError

    with pytest.raises(MlregError, match=r"holds more than the 5000 bytes the record says"):
        reg.pull("btc@latest", tmp_path / "out")
    assert cache_bytes(own_cache) <= 5000 + 100
    assert not (own_cache / "files" / art.sha256[:2] / art.sha256[2:]).exists()


@pytest.mark.parametrize("store", ["local"], indirect=True)
def test_the_next_pull_removes_what_a_killed_pull_left_in_tmp(stored, training, tmp_path, own_cache):
    reg = stored
    fifo = tmp_path / "slow-object"
    os.mkfifo(fifo)
    point_at(reg.root, "sub/weights.bin", fifo.as_uri())  # a download that blocks until we write
    p = mlreg_process(reg.root, "pull", "btc/1", "-o", str(tmp_path / "out"))
    try:
        with open(fifo, "wb") as w:  # returns once the pull opened the object: its dl- file exists
            w.write(b"w" * 100)
            w.flush()
            os.killpg(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.communicate(timeout=60)
    # what the killed pull left (read after the kill: the other artifacts' downloads, done in parallel, may have
    # finished and moved their dl- files into the cache between a look before the kill and the kill)
    left = list((own_cache / "tmp").glob("dl-*"))
    assert left, "the killed pull had no temporary download"

    live = own_cache / "tmp" / "dl-running"  # a pull still downloading holds its file's lock
    live.write_bytes(b"partial")
    import fcntl

    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        reg.register("btc", training(files={"model.txt": "second\n"}))
        reg.pull("btc/2", tmp_path / "v2")
        assert live.exists()
    assert [f for f in left if f.exists()] == []
    assert (tmp_path / "v2/model.txt").read_text() == "second\n"
