"""gc in a team: it keeps what any clone, branch, stash, work tree or index can still need, works per registry in a
shared store, reads records as JSON, and deletes only in a second run (two-phase), so a register in flight is safe.

Every gc here runs with `--grace 0`: the first run marks, the next deletes what is still unrecorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlreg.api import Registry

from conftest import git
from storekit import namespace, set_store, version_folder

GC = ("gc", "--grace", "0")


def _gc_twice(cli, root: Path) -> None:
    """A scheduled gc, twice: the first run marks, the second deletes."""
    for _ in range(2):
        r = cli(root, *GC)
        assert r.code == 0, r.err


def _objects(reg: Registry, model: str, ref: str) -> list[str]:
    return [a.uri for a in reg.get(model, ref).record.artifacts if a.uri]


def _stored(reg, store) -> Registry:
    set_store(reg.root, store.uri)
    reg._settings = None
    return reg


def _orphan(reg, store, name: str = "orphan.bin") -> str:
    uri = f"{namespace(reg.root, store.uri)}/m/v9-000000000000/{name}"
    store.write(uri, b"left by a killed register\n")
    return uri


def test_gc_marks_first_and_deletes_on_a_later_run(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training())
    reg.register("m", training(), branch="candidate")  # v2 lives on a branch only (a pull request)
    orphan = _orphan(reg, store)
    keep = _objects(reg, "m", "1")
    r = cli(reg.root, *GC, "--json")
    assert r.code == 0, r.err
    assert [o["uri"] for o in r.json()["marked"]] == [orphan] and r.json()["deleted"] == []
    assert store.exists(orphan)  # marked only: a register may be about to commit it
    dry = cli(reg.root, *GC, "--dry-run", "--json").json()
    assert [o["uri"] for o in dry["deleted"]] == [orphan] and store.exists(orphan)
    real = cli(reg.root, *GC, "--json").json()
    assert real["deleted"] == dry["deleted"] and real["marked"] == dry["marked"]  # the dry run said exactly this
    assert not store.exists(orphan)
    assert all(store.exists(u) for u in keep)
    assert any("/m/v2-" in k for k in store.keys())  # recorded on the branch: kept
    r = cli(reg.root, "gc")  # default grace (7 days): a fresh orphan is only marked
    orphan2 = _orphan(reg, store, "second.bin")
    r = cli(reg.root, "gc")
    r = cli(reg.root, "gc")
    assert r.code == 0 and "delete 0" in r.out and store.exists(orphan2)


def test_a_clone_that_has_not_fetched_keeps_the_teammates_pushed_version(reg, training, store, tmp_path, cli):
    _stored(reg, store)
    reg.register("m", training(files={"model.txt": "mine\n"}))
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(reg.root), str(origin))
    git(reg.root, "remote", "add", "origin", str(origin))
    git(reg.root, "fetch", "-q", "origin")
    mate = Registry(tmp_path / "mate")
    git(tmp_path, "clone", "-q", str(origin), str(mate.root))
    mate.register("m", training(files={"model.txt": "the teammate's\n"}))
    git(mate.root, "push", "-q", "origin", "HEAD:main")
    theirs = _objects(mate, "m", "2")
    _gc_twice(cli, reg.root)  # this clone never fetched the teammate's v2
    assert all(store.exists(u) for u in theirs)
    assert {c.status for c in mate.verify("m", "2", download=True)} == {"ok"}
    assert git(reg.root, "for-each-ref", "--format=%(refname)", "refs/mlreg-gc/origin/heads").split() == [
        "refs/mlreg-gc/origin/heads/main"
    ]  # gc's own copy of the remote's refs; origin/main was left alone


def test_gc_refuses_when_a_remote_cannot_be_fetched(reg, training, store, tmp_path, cli):
    _stored(reg, store)
    reg.register("m", training())
    git(reg.root, "remote", "add", "origin", str(tmp_path / "gone.git"))
    orphan = _orphan(reg, store)
    before = store.keys()
    for _ in range(2):
        r = cli(reg.root, *GC)
        assert r.code == 1 and r.err.count("\n") == 1
        assert r.err.startswith("Error: cannot fetch remote 'origin'") and "nothing was deleted" in r.err
    assert store.keys() == before and store.exists(orphan)


def test_two_registries_share_one_store(reg, training, store, tmp_path, cli):
    _stored(reg, store)
    other_root = tmp_path / "other"
    other_root.mkdir()
    git(other_root, "init", "-q")
    git(other_root, "commit", "-q", "--allow-empty", "-m", "initial")
    other = Registry(other_root)
    other.init()
    set_store(other_root, store.uri)
    other._settings = None
    reg.register("m", training(files={"model.txt": "registry one\n"}))
    other.register("m", training(files={"model.txt": "registry two\n"}))  # same model name, same number
    orphan = _orphan(reg, store)
    theirs = _objects(other, "m", "1")
    _gc_twice(cli, reg.root)
    assert not store.exists(orphan)
    assert all(store.exists(u) for u in theirs) and all(store.exists(u) for u in _objects(reg, "m", "1"))
    assert {c.status for c in other.verify("m", "1", download=True)} == {"ok"}
    _gc_twice(cli, other_root)
    assert {c.status for c in reg.verify("m", "1", download=True)} == {"ok"}


def _commit_record_on(reg: Registry, branch: str, rel: str, text: str) -> None:
    """Rewrite one committed file on `branch` (checked out in a linked work tree, then removed)."""
    wt = reg.root.parent / f"wt-{branch}"
    git(reg.root, "worktree", "add", "-q", str(wt), branch)
    (wt / rel).write_text(text)
    git(wt, "commit", "-q", "-am", f"rewrite {rel}")
    git(reg.root, "worktree", "remove", str(wt))


def test_a_record_spaced_differently_on_another_branch_is_read(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training())
    reg.register("m", training(files={"model.txt": "on the branch\n"}), branch="other")
    rel = "registry/m/v2/metadata.json"
    doc = json.loads(git(reg.root, "show", f"other:{rel}"))
    _commit_record_on(reg, "other", rel, json.dumps(doc, indent=4, separators=(" , ", " : ")) + "\n")
    assert '"uri" : "' in git(reg.root, "show", f"other:{rel}")
    _gc_twice(cli, reg.root)
    assert all(store.exists(a["uri"]) for a in doc["artifacts"])


def test_a_one_line_record_is_read(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training())
    path = reg.root / "registry/m/v1/metadata.json"
    path.write_text(json.dumps(json.loads(path.read_text())))  # valid JSON on one line
    git(reg.root, "commit", "-qam", "one line")
    keep = _objects(reg, "m", "1")
    _gc_twice(cli, reg.root)
    assert all(store.exists(u) for u in keep)


def test_an_unreadable_record_makes_gc_refuse(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training())
    reg.register("m", training(), branch="other")
    rel = "registry/m/v2/metadata.json"
    broken = git(reg.root, "show", f"other:{rel}")[:-40]  # cut short: no longer JSON
    _commit_record_on(reg, "other", rel, broken)
    orphan = _orphan(reg, store)
    cli(reg.root, *GC)  # (today's gc would delete here; this one refuses already)
    for _ in range(2):
        r = cli(reg.root, *GC)
        assert r.code == 1 and r.err.count("\n") == 1 and "Traceback" not in r.err
        assert "registry/m/v2/metadata.json" in r.err and "nothing was deleted" in r.err
    assert store.exists(orphan) and all(store.exists(u) for u in _objects(reg, "m", "1"))


def test_versions_on_a_detached_linked_worktree_head_are_kept(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training())
    wt = reg.root.parent / "experiment"
    git(reg.root, "worktree", "add", "-q", "-b", "exp", str(wt))
    there = Registry(wt)
    there.register("m", training(files={"model.txt": "an experiment\n"}))
    git(wt, "checkout", "-q", "--detach")
    git(reg.root, "branch", "-q", "-D", "exp")  # the version is reachable from that work tree's HEAD only
    git(reg.root, "reflog", "expire", "--expire=now", "--all")  # and from no reflog
    keep = _objects(there, "m", "2")
    _gc_twice(cli, reg.root)
    assert all(store.exists(u) for u in keep)
    assert {c.status for c in there.verify("m", "2", download=True)} == {"ok"}


def test_a_stashed_no_commit_version_is_kept(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training())
    reg.register("m", training(files={"model.txt": "not committed yet\n"}), commit=False)
    keep = _objects(reg, "m", "2")
    git(reg.root, "stash", "push", "-q", "--include-untracked")
    assert not (reg.root / "registry/m/v2").exists()
    _gc_twice(cli, reg.root)
    assert all(store.exists(u) for u in keep)
    git(reg.root, "stash", "pop", "-q")
    assert {c.status for c in reg.verify("m", "2", download=True)} == {"ok"}


def test_uncommitted_and_staged_versions_are_kept(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training(), commit=False)
    git(reg.root, "add", "-A")
    reg.register("m", training(), commit=False)
    keep = _objects(reg, "m", "1") + _objects(reg, "m", "2")
    shutil.rmtree(reg.root / "registry/m/v1")  # v1 is in the index only now
    _gc_twice(cli, reg.root)
    assert all(store.exists(u) for u in keep)


class _Interrupt(KeyboardInterrupt):  # as a Ctrl-C would: passes through every handler
    pass


def test_gc_racing_the_rerun_of_an_interrupted_register(reg, training, store):
    _stored(reg, store)
    folder = training(files={"model.txt": "big model\n"})

    def die_after_upload(done: list[int]):
        def progress(n: int, total: int) -> None:
            done[0] += n
            if done[0] >= total:
                raise _Interrupt()  # every byte landed, nothing committed: a register killed at the worst time

        return progress

    with pytest.raises(_Interrupt):
        reg.register("m", folder, progress=die_after_upload([0]))
    assert not (reg.root / "registry/m").exists() and store.keys()
    first = Registry(reg.root).gc(grace=0)  # marks the interrupted register's objects
    assert first.marked and not first.deleted
    ran: list = []

    def gc_meanwhile(done: list[int]):
        def progress(n: int, total: int) -> None:
            done[0] += n
            if done[0] >= total and not ran:  # the rerun uploaded, not committed yet: a scheduled gc runs now
                ran.append(Registry(reg.root).gc(grace=0))

        return progress

    reg.register("m", folder, progress=gc_meanwhile([0]))
    assert ran and ran[0].deleted  # the interrupted register's objects went; the rerun's were only marked
    assert {c.status for c in reg.verify("m", "1", download=True)} == {"ok"}
    after = Registry(reg.root).gc(grace=0)
    assert not after.deleted and not after.marked and after.recorded == len(_objects(reg, "m", "1"))
    assert {c.status for c in reg.verify("m", "1", download=True)} == {"ok"}


def test_two_branches_register_the_same_number_into_one_store(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training())
    reg.register("m", training(files={"model.txt": "branch a's v2\n"}), branch="a")
    reg.register("m", training(files={"model.txt": "main's v2\n"}))  # same number, other bytes
    theirs = json.loads(git(reg.root, "show", "a:registry/m/v2/metadata.json"))["artifacts"]
    mine = reg.get("m", "2").record.artifacts
    assert {a["uri"] for a in theirs}.isdisjoint({a.uri for a in mine})
    by_path = {a["path"]: a for a in theirs}
    assert store.read(by_path["model.txt"]["uri"]) == b"branch a's v2\n"
    assert store.read(next(a.uri for a in mine if a.path == "model.txt")) == b"main's v2\n"
    _gc_twice(cli, reg.root)
    assert all(store.exists(a["uri"]) for a in theirs) and {c.status for c in reg.verify("m", "2")} == {"ok"}


def test_uris_are_compared_normalised(reg, training, store, tmp_path, cli):
    _stored(reg, store)
    for _ in range(3):
        reg.register("m", training())
    scheme = store.uri.split("://")[0]
    spell = {
        1: lambda u: u.replace("/_mlreg/", "/./_mlreg/../_mlreg//", 1) + "/",  # dot segments, doubled slashes
        2: lambda u: u.replace(f"{scheme}://", f"{scheme.upper()}://", 1).replace(
            "://" + u.split("://")[1].split("/")[0], "://" + u.split("://")[1].split("/")[0].upper(), 1
        ),  # case
    }
    if store.kind == "local":  # the same folder through a symlink
        link = tmp_path / "via-link"
        link.symlink_to(store.folder)
        spell[3] = lambda u: u.replace(store.uri, link.as_uri(), 1)
    keep = []
    for n, respell in spell.items():
        path = reg.root / f"registry/m/v{n}/metadata.json"
        doc = json.loads(path.read_text())
        keep += [a["uri"] for a in doc["artifacts"]]
        for a in doc["artifacts"]:
            a["uri"] = respell(a["uri"])
        path.write_text(json.dumps(doc, indent=2) + "\n")
    git(reg.root, "commit", "-qam", "the same objects, spelled otherwise")
    _gc_twice(cli, reg.root)
    assert all(store.exists(u) for u in keep)


def test_old_layout_records_stay_valid_and_kept(reg, training, store, cli):
    _stored(reg, store)
    reg.register("m", training())
    path = reg.root / "registry/m/v1/metadata.json"
    doc = json.loads(path.read_text())
    folder = version_folder(reg, "m", "1")
    for a in doc["artifacts"]:  # as a register before namespaces wrote it: <store>/<model>/v<N>/<path>
        old = a["uri"].replace(folder, f"{store.uri}/m/v1", 1)
        store.write(old, store.read(a["uri"]))
        a["uri"] = old
    path.write_text(json.dumps(doc, indent=2) + "\n")
    git(reg.root, "commit", "-qam", "an old-layout record")
    stray = f"{store.uri}/m/v7/left.bin"  # an old-layout orphan: outside the namespace, never gc's to delete
    store.write(stray, b"x")
    _gc_twice(cli, reg.root)
    assert store.exists(stray) and all(store.exists(a["uri"]) for a in doc["artifacts"])
    assert {c.status for c in reg.verify("m", "1", download=True)} == {"ok"}
    assert reg.validate() == []


def test_a_bad_grace_is_refused_before_anything_runs(reg, store, cli):
    _stored(reg, store)
    orphan = _orphan(reg, store)
    r = cli(reg.root, "gc", "--grace", "soon")
    assert r.code == 1 and r.err == "Error: --grace 'soon': expected a duration such as 7d, 12h, 30m or 0\n"
    assert store.keys() == [orphan]  # not even marked
