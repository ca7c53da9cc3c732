"""Sync in a team (issue 21): one sync at a time per registry and server, only what landed, and the repairs
(`--force` for what an unmerged sync left, `--repair` for burnt version numbers), against a real `mlflow server`
with a bare origin and clones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlreg.api import Registry
from mlreg.errors import MlregError
from mlreg.sync.mlflow_io.lease import PREFIX, TAG, Holder, held

from .sync_helpers import git, runs_of, versions_of

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]


def _clone(tmp_path: Path, origin: Path, name: str) -> Path:
    git(tmp_path, "clone", "-q", str(origin), str(tmp_path / name))
    return tmp_path / name


def _published(reg, tmp_path) -> Path:
    """Publish the registry as a bare origin (its default branch: main); returns the origin."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(reg.root), str(origin))
    git(reg.root, "remote", "add", "origin", str(origin))
    git(reg.root, "fetch", "-q", "origin")
    git(reg.root, "branch", "-q", "-u", "origin/main")
    return origin


def _sync_process(cwd: Path, url: str, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "mlreg", "sync", "--tracking-uri", url, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until_waiting(proc: subprocess.Popen) -> str:
    """stderr up to the line saying the sync waits for the lease (or all of it, if it ends without waiting)."""
    seen = ""
    for line in proc.stderr:
        seen += line
        if line.startswith("Waiting for another mlreg sync"):
            break
    return seen


def _registry_id(root: Path) -> str:
    return Registry(root).settings.registry_id


def test_two_concurrent_syncs_from_two_clones_leave_one_copy_of_everything(
    reg, training, mlflow_server, uniq, tmp_path
):
    names = [f"{uniq}-m{i}" for i in range(3)]
    for name in names:
        for _ in range(2):
            reg.register(name, training(experiment=f"{uniq}-exp"))
    origin = _published(reg, tmp_path)
    ci, teammate = _clone(tmp_path, origin, "ci"), _clone(tmp_path, origin, "teammate")
    c = mlflow_server.client()
    # a third sync holds the lease while both start, so they compete for it at the same moment
    with held(c._get_registry_client(), _registry_id(reg.root), mlflow_server.url):
        procs = [_sync_process(ci, mlflow_server.url), _sync_process(teammate, mlflow_server.url)]
        said = [_until_waiting(p) for p in procs]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all("Waiting for another mlreg sync of this registry" in s for s in said), said

    assert [p.returncode for p in procs] == [0, 0], outs
    for name in names:
        mv = versions_of(c, name)
        assert sorted(mv) == [1, 2] and all("mlreg.placeholder" not in v.tags for v in mv.values())
        runs = runs_of(c, name)
        assert sorted(json.loads(r.data.tags["mlreg.sync"])["version"] for r in runs) == [1, 2]
        assert {v.run_id for v in mv.values()} == {r.info.run_id for r in runs}
    assert not c.search_registered_models(f"name LIKE '{PREFIX}%'")  # the lease is gone
    assert Registry(ci).sync(mlflow_server.url, check=True).ok


def test_a_held_lease_stops_a_second_sync_naming_the_holder(reg, training, mlflow_server, uniq, cli):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    c = mlflow_server.client()
    with held(c._get_registry_client(), _registry_id(reg.root), mlflow_server.url):
        r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url, "--wait", "0")
    assert r.code == 1 and "another mlreg sync of this registry is running" in r.err
    assert f"pid {os.getpid()}" in r.err and "started at 20" in r.err and "--wait SECONDS" in r.err
    assert not c.search_registered_models(f"name = '{name}'")  # nothing written


def test_a_lease_left_by_a_killed_sync_is_taken_over_once_expired(reg, training, mlflow_server, uniq):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    c = mlflow_server.client()
    dead = Holder("deadbeef", "ci-runner-7", 999999, "2026-01-01T00:00:00Z", time.time() - 1)
    lease = PREFIX + _registry_id(reg.root)
    c.create_registered_model(lease, {TAG: dead.to_tag()})

    assert reg.sync(mlflow_server.url, wait=0).ok

    assert sorted(versions_of(c, name)) == [1]
    assert not c.search_registered_models(f"name LIKE '{PREFIX}%'")


HOLD = (
    "import sys, time\n"
    "from mlflow import MlflowClient\n"
    "from mlreg.sync.mlflow_io.lease import held\n"
    "client = MlflowClient(sys.argv[1])\n"
    "with held(client._get_registry_client(), sys.argv[2], sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(600)\n"
)


def _holder(root: Path, url: str) -> subprocess.Popen:
    """Another process on this machine holding the registry's lease (as a sync does while it writes)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, _registry_id(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held", proc.stderr and proc.stderr.read()
    return proc


def test_a_lease_left_by_a_sync_killed_on_this_machine_is_taken_at_once(reg, training, mlflow_server, uniq, cli):
    """Its expiry is two minutes away, but its process is gone: no wait (with --wait 0 a live one stops us)."""
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    c = mlflow_server.client()
    proc = _holder(reg.root, mlflow_server.url)
    try:
        r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url, "--wait", "0")
        assert r.code == 1 and f"pid {proc.pid}" in r.err  # alive: waited for (here: refused at once)
        lease = c.get_registered_model(PREFIX + _registry_id(reg.root))
        holder = Holder.from_tags(dict(lease.tags))
        assert holder is not None and holder.pid == proc.pid and holder.expires > time.time() + 60
        assert holder.process.split(" ")[3] == str(proc.pid)
    finally:
        proc.kill()
        proc.communicate()

    assert reg.sync(mlflow_server.url, wait=0).ok

    assert sorted(versions_of(c, name)) == [1]
    assert not c.search_registered_models(f"name LIKE '{PREFIX}%'")


def _left_lease(root: Path, client, field: int | None) -> None:
    """A lease naming this host and a process that has ended, its expiry ten minutes away, its process record
    true but for `field` (0 boot id, 1 PID namespace, 2 user; 4 the start, with the pid now a live process's)."""
    import socket

    from mlreg.sync.mlflow_io.lease import PROCESS_TAG

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(done.stdout)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    record = [boot, os.readlink("/proc/self/ns/pid"), str(os.getuid()), str(pid), "12345"]
    if field == 4:
        pid = os.getpid()
        record[3] = str(pid)
    elif field is not None:
        record[field] = "elsewhere"
    left = Holder("cafe", socket.gethostname(), pid, "2026-01-01T00:00:00Z", time.time() + 600)
    client.create_registered_model(PREFIX + _registry_id(root), {TAG: left.to_tag(), PROCESS_TAG: " ".join(record)})


@pytest.mark.parametrize("field", [0, 1, 2])
def test_a_dead_pid_is_not_enough_unless_boot_namespace_and_user_match(reg, training, mlflow_server, uniq, field):
    """A holder on another machine or in another container, or another user's, is waited for."""
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    c = mlflow_server.client()
    _left_lease(reg.root, c, field)

    with pytest.raises(MlregError, match="another mlreg sync of this registry is running"):
        reg.sync(mlflow_server.url, wait=0)

    assert not c.search_registered_models(f"name = '{name}'")
    c.delete_registered_model(PREFIX + _registry_id(reg.root))


@pytest.mark.parametrize("field", [None, 4])
def test_a_holder_whose_process_ended_or_whose_pid_was_reused_is_not_waited_for(
    reg, training, mlflow_server, uniq, field
):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    c = mlflow_server.client()
    _left_lease(reg.root, c, field)

    assert reg.sync(mlflow_server.url, wait=0).ok

    assert sorted(versions_of(c, name)) == [1]
    assert not c.search_registered_models(f"name LIKE '{PREFIX}%'")


def test_a_lease_left_by_an_ended_sync_of_this_process_is_taken_at_once(reg, training, mlflow_server, uniq):
    """A sync in a notebook that failed with the server down could not delete its lease; the rerun, in the same
    process, does not wait for it (a lease this process still holds stops it: the test above)."""
    import socket

    from mlreg.sync.mlflow_io.lease import PROCESS_TAG, _process_record

    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    c = mlflow_server.client()
    left = Holder("0ld", socket.gethostname(), os.getpid(), "2026-01-01T00:00:00Z", time.time() + 600)
    c.create_registered_model(PREFIX + _registry_id(reg.root), {TAG: left.to_tag(), PROCESS_TAG: _process_record()})

    assert reg.sync(mlflow_server.url, wait=0).ok

    assert sorted(versions_of(c, name)) == [1]
    assert not c.search_registered_models(f"name LIKE '{PREFIX}%'")


def test_burnt_version_numbers_are_repaired_by_sync_repair(reg, training, mlflow_server, uniq, cli):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    assert reg.sync(mlflow_server.url).ok
    c = mlflow_server.client()
    v1 = versions_of(c, name)[1]
    burnt = c.create_model_version(name, v1.source, v1.run_id)  # number 2 used, then deleted: MLflow skips it
    c.delete_model_version(name, burnt.version)
    reg.register(name, training(experiment=f"{uniq}-exp"))
    r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url)
    assert r.code == 1 and "MLflow numbered it 3" in r.err and "mlreg sync --repair" in r.err

    r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url, "--repair")

    assert r.code == 0, r.err
    mv = versions_of(c, name)
    assert sorted(mv) == [1, 2] and mv[1].run_id == v1.run_id  # v1 made again from its own run
    assert len(runs_of(c, name)) == 2
    assert reg.sync(mlflow_server.url, check=True).ok


def test_a_sync_from_an_unpushed_branch_is_refused_and_ci_repairs_what_one_left(
    reg, training, mlflow_server, uniq, tmp_path, cli, clock
):
    name = f"{uniq}-m"
    reg.register(name, training(experiment=f"{uniq}-exp"))
    origin = _published(reg, tmp_path)
    bob_root = _clone(tmp_path, origin, "bob")
    bob = Registry(bob_root, clock=clock)
    git(bob_root, "checkout", "-q", "-b", "bob/experiment")
    bob.register(name, training(experiment=f"{uniq}-exp", params={"learning_rate": 0.5}))
    c = mlflow_server.client()

    r = cli(bob_root, "sync", "--tracking-uri", mlflow_server.url)
    assert r.code == 1 and "branch 'bob/experiment'" in r.err and "not on origin/main" in r.err
    assert "--allow-unmerged" in r.err
    assert not c.search_registered_models(f"name = '{name}'")  # nothing written

    # Bob overrides it (as on today's main, where nothing stopped him): his v2 is in the shared MLflow
    assert cli(bob_root, "sync", "--tracking-uri", mlflow_server.url, "--allow-unmerged").code == 0
    bob_v1 = versions_of(c, name)[1].run_id
    # Alice's different v2 lands on main; CI syncs main
    reg.register(name, training(experiment=f"{uniq}-exp", params={"learning_rate": 0.01}))
    git(reg.root, "push", "-q", "origin", "main")
    ci = _clone(tmp_path, origin, "ci")
    r = cli(ci, "sync", "--tracking-uri", mlflow_server.url, "--json")
    (conflict,) = r.json()["conflicts"]
    assert (
        r.code == 1
        and conflict["name"] == f"{name}/2"
        and "other values for params learning_rate" in conflict["detail"]
        and "--force re-creates it" in conflict["detail"]
    )

    r = cli(ci, "sync", "--tracking-uri", mlflow_server.url, "--force")

    assert r.code == 0, r.err
    mv = versions_of(c, name)
    assert sorted(mv) == [1, 2] and mv[1].run_id == bob_v1  # v1's run kept
    assert c.get_run(mv[2].run_id).data.params["learning_rate"] == "0.01"
    live = [r for r in runs_of(c, name) if r.info.lifecycle_stage == "active"]
    assert sorted(r.info.run_id for r in live) == sorted(v.run_id for v in mv.values())
    assert Registry(ci).sync(mlflow_server.url, check=True).ok
