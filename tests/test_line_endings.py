"""Artifacts are stored byte-exact: `* text=auto`, core.autocrlf=true in the registry or in a clone never
change the bytes a clone checks out, so validate and verify pass everywhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlreg.api import Registry

from conftest import git

FILES = {
    "notes.txt": b"windows line\r\nsecond\r\n",
    "lf.txt": b"unix line\nsecond\n",
    "mixed.csv": b"a,b\r\n1,2\n",
    "model.bin": b"\x00\x01\r\n\x02",
}


def training(tmp_path: Path) -> Path:
    src = tmp_path / "run"
    src.mkdir()
    (src / "run_metadata.json").write_bytes(b'{"run_name": "r",\r\n "metrics": {"rmse_val": 0.1}}\r\n')
    for name, data in FILES.items():
        (src / name).write_bytes(data)
    return src


def assert_clone_is_exact(tmp_path: Path, origin: Path, *config: str) -> None:
    clone = tmp_path / f"clone{len(config)}"
    git(tmp_path, "clone", "-q", *config, str(origin), str(clone))
    for name, data in FILES.items():
        assert (clone / "registry/m/v1" / name).read_bytes() == data, name
    reg = Registry(clone)
    assert reg.validate() == []
    assert [c.status for c in reg.verify("m")] == ["ok"] * (len(FILES) + 1)


@pytest.mark.parametrize("setup", ["text=auto", "autocrlf-in-repo"])
def test_text_artifacts_survive_every_line_ending_setting(repo_dir, tmp_path, cli, setup):
    if setup == "text=auto":
        (repo_dir / ".gitattributes").write_text("* text=auto\n")
        git(repo_dir, "add", ".gitattributes")
        git(repo_dir, "commit", "-qm", "normalise line endings")
    else:
        git(repo_dir, "config", "core.autocrlf", "true")
    assert cli(repo_dir, "init").code == 0
    r = cli(repo_dir, "register", "m", "--from-dir", str(training(tmp_path)))
    assert r.code == 0, r.err
    for name, data in FILES.items():
        blob = git(repo_dir, "rev-parse", f"HEAD:registry/m/v1/{name}").strip()
        assert blob == git(repo_dir, "hash-object", "--no-filters", str(tmp_path / "run" / name)).strip()
        assert hashlib.sha256(data).hexdigest() in (repo_dir / "registry/m/v1/metadata.json").read_text()
    assert git(repo_dir, "status", "--porcelain") == ""
    assert_clone_is_exact(tmp_path, repo_dir)
    assert_clone_is_exact(tmp_path, repo_dir, "-c", "core.autocrlf=true")


def test_a_registry_made_before_gets_the_attributes_file_with_its_next_register(reg, tmp_path):
    git(reg.root, "rm", "-q", "registry/.gitattributes")
    git(reg.root, "commit", "-qm", "as an older mlreg left it")
    out = reg.register("m", training(tmp_path))
    assert "registry/.gitattributes" in out.paths
    assert "-text" in git(reg.root, "show", "HEAD:registry/.gitattributes")
    assert_clone_is_exact(tmp_path, reg.root, "-c", "core.autocrlf=true")
