"""validate checks each artifact's digest once per git blob id; edits are still caught."""

from __future__ import annotations

import os

from mlreg.api import Registry

from conftest import git


def cache_file(root):
    return root / ".git" / "mlreg" / "digests"


def test_digests_are_cached_by_blob_id_and_edits_still_caught(reg, training, monkeypatch):
    reg.register("m", training())
    assert Registry(reg.root).validate() == []
    oid = git(reg.root, "rev-parse", "HEAD:registry/m/v1/model.txt").strip()
    lines = cache_file(reg.root).read_text().splitlines()
    assert any(line.startswith(f"{oid} ") for line in lines)

    # a second run hashes nothing git knows to be unchanged
    from mlreg.storage import digests

    hashed = []
    real = digests.of_file
    monkeypatch.setattr(digests, "of_file", lambda p: hashed.append(p) or real(p))
    assert Registry(reg.root).validate() == []
    assert hashed == []

    # an edited file is hashed (git's stat data says it changed), committed or not
    (reg.root / "registry/m/v1/model.txt").write_text("tampered\n")
    problem = "registry/m/v1/metadata.json: $.artifacts[0]: model.txt does not match its recorded sha256/size"
    assert problem in Registry(reg.root).validate()
    git(reg.root, "commit", "-qam", "tamper")
    assert problem in Registry(reg.root).validate()


def test_a_broken_cache_costs_only_speed(reg, training):
    reg.register("m", training())
    cache_file(reg.root).parent.mkdir(parents=True, exist_ok=True)
    cache_file(reg.root).write_text("garbage line\n")
    assert Registry(reg.root).validate() == []
    assert "garbage" not in cache_file(reg.root).read_text()  # rebuilt


def test_plain_validate_refuses_symlinks_in_the_working_tree(reg, training):
    reg.register("m", training())
    os.symlink("model.txt", reg.root / "registry/m/v1/alias.txt")
    os.symlink("/etc/hostname", reg.root / "registry/stray")
    found = Registry(reg.root).validate()
    assert (
        "registry/m/v1/alias.txt: is a symbolic link (to model.txt); nothing under registry/ and no mlreg.yaml "
        "may be a symlink"
    ) in found
    assert any(p.startswith("registry/stray: is a symbolic link (to /etc/hostname)") for p in found)
