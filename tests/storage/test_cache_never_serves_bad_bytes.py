"""The cache never hands out bad bytes: a write to a pulled or resolved file cannot reach the cache, a damaged cache
entry is downloaded again, and `verify --cache` finds and removes what does not match."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from storekit import stored  # noqa: F401  (fixture: btc v1 in the store)

WEIGHTS = ("w" * 5000).encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(cache: Path, data: bytes) -> Path:
    return cache / "files" / sha(data)[:2] / sha(data)[2:]


def write_through(path: Path, data: bytes, keep_times: bool = False) -> None:
    """What a careless script (or root, which read-only bits do not stop) does to a file it was handed."""
    st = path.stat()
    path.chmod(0o644)
    with open(path, "r+b") as f:  # in place, like a tool editing the file it was given
        f.write(data)
        f.truncate()
    if keep_times:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("store", ["local"], indirect=True)
def test_a_write_through_a_pulled_file_is_never_handed_out_again(stored, tmp_path, own_cache):
    reg = stored
    reg.pull("btc@latest", tmp_path / "out")
    write_through(tmp_path / "out/sub/weights.bin", b"x" * 5000)

    second = reg.pull("btc@latest", tmp_path / "out2")
    assert (tmp_path / "out2/sub/weights.bin").read_bytes() == WEIGHTS
    assert second.downloaded_files == 0  # the cache entry was never touched
    assert entry(own_cache, WEIGHTS).read_bytes() == WEIGHTS
    res = reg.resolve("btc@latest")
    assert (res.files_dir / "sub/weights.bin").read_bytes() == WEIGHTS

    again = reg.pull("btc@latest", tmp_path / "out")  # the edited copy is replaced, not kept
    assert (tmp_path / "out/sub/weights.bin").read_bytes() == WEIGHTS
    assert again.copied == 1 and again.downloaded_files == 0


@pytest.mark.parametrize("store", ["local"], indirect=True)
def test_a_resolved_file_edited_with_size_and_mtime_restored_is_copied_again(stored):
    reg = stored
    files_dir = reg.resolve("btc@latest").files_dir
    write_through(files_dir / "model.txt", b"TREE MODEL\n", keep_times=True)  # same size, same mtime
    res = reg.resolve("btc@latest")
    assert res.files_dir == files_dir
    assert (files_dir / "model.txt").read_bytes() == b"tree model\n"


def test_a_damaged_cache_entry_is_downloaded_again_never_served(stored, store, tmp_path, own_cache):
    reg = stored
    reg.pull("btc@latest", tmp_path / "out")
    bad = entry(own_cache, WEIGHTS)  # e.g. through a hard link an older mlreg placed in some folder
    write_through(bad, b"y" * 5000, keep_times=True)

    report = reg.pull("btc@latest", tmp_path / "out2")
    assert report.downloaded_files == 1 and report.downloaded_bytes == 5000
    assert (tmp_path / "out2/sub/weights.bin").read_bytes() == WEIGHTS
    assert bad.read_bytes() == WEIGHTS
    assert (reg.resolve("btc@latest").files_dir / "sub/weights.bin").read_bytes() == WEIGHTS


@pytest.mark.parametrize("store", ["local"], indirect=True)
def test_verify_cache_reports_and_removes_bad_entries(stored, tmp_path, own_cache, cli):
    reg = stored
    files_dir = reg.resolve("btc@latest").files_dir
    r = cli(reg.root, "verify", "--cache", "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["ok"] and {c["status"] for c in doc["cache"]} == {"ok"}
    assert str(entry(own_cache, WEIGHTS)) in {c["path"] for c in doc["cache"]}

    write_through(entry(own_cache, WEIGHTS), b"y" * 5000, keep_times=True)
    write_through(files_dir / "model.txt", b"TREE MODEL\n", keep_times=True)
    r = cli(reg.root, "verify", "--cache")
    assert r.code == 1
    assert "mismatch (removed)" in r.out
    assert not entry(own_cache, WEIGHTS).exists() and not (files_dir / "model.txt").exists()
    assert entry(own_cache, b"tree model\n").read_bytes() == b"tree model\n"  # good entries stay

    r = cli(reg.root, "verify", "--cache", "--json")
    assert r.code == 0 and r.json()["ok"]
    assert reg.pull("btc@latest", tmp_path / "out").downloaded_files == 1
    assert (reg.resolve("btc@latest").files_dir / "model.txt").read_bytes() == b"tree model\n"


def test_verify_needs_a_model_or_cache(reg, cli):
    r = cli(reg.root, "verify")
    assert r.code == 2 and "--cache" in r.err


@pytest.mark.parametrize("store", ["local"], indirect=True)
def test_a_hard_link_an_older_mlreg_placed_is_replaced_by_a_copy(stored, tmp_path, own_cache):
    reg = stored
    reg.pull("btc@latest", tmp_path / "warm")
    old = tmp_path / "old/sub/weights.bin"  # what an older mlreg's pull left: a hard link to the cache entry
    old.parent.mkdir(parents=True)
    os.link(entry(own_cache, WEIGHTS), old)
    reg.pull("btc@latest", tmp_path / "old")
    assert old.stat().st_nlink == 1 and old.read_bytes() == WEIGHTS
    write_through(old, b"x" * 5000)
    assert entry(own_cache, WEIGHTS).read_bytes() == WEIGHTS
