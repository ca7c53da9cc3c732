"""Store failures: wrong credentials, a missing bucket, an unreachable endpoint, kill -9 during an upload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import git
from storekit import free_port, make_bucket, namespace, set_store


def _unchanged(reg, head: str) -> None:
    assert git(reg.root, "rev-parse", "HEAD") == head
    assert git(reg.root, "status", "--porcelain") == ""


def test_wrong_credentials(reg, training, s3_env, monkeypatch, cli):
    uri = f"s3://{make_bucket(s3_env)}/models"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--store", uri)
    assert r.code == 1 and r.err.count("\n") == 1
    assert r.err.startswith(f"Error: cannot upload {namespace(reg.root, uri)}/m/v1-") and "access denied by" in r.err
    assert "not-the-secret" not in r.err
    assert "AWS_ACCESS_KEY_ID" in r.err
    _unchanged(reg, head)


def test_missing_bucket(reg, training, s3_env, cli):
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--store", "s3://no-such-bucket-xyz/models")
    assert r.code == 1
    assert r.err == (
        f"Error: bucket 'no-such-bucket-xyz' does not exist at {s3_env.endpoint}; create it, or fix "
        "artifacts.store in mlreg.yaml (or --store)\n"
    )
    _unchanged(reg, head)


def test_unreachable_endpoint_fails_fast(reg, training, s3_env, monkeypatch, cli):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    head = git(reg.root, "rev-parse", "HEAD")
    started = time.monotonic()
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--store", "s3://some-bucket/models")
    assert time.monotonic() - started < 15  # the bound: retries and timeouts are limited
    assert r.code == 1 and f"cannot reach the object store at http://127.0.0.1:{port}" in r.err
    _unchanged(reg, head)


def test_no_credentials_at_all(reg, training, s3_env, monkeypatch, cli):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--store", "s3://b-b-b/models")
    assert r.code == 1 and "no S3 credentials found" in r.err


def test_store_uri_checked(reg, training, cli):
    r = cli(reg.root, "register", "m", "--from-dir", str(training()), "--store", "ftp://x/y")
    assert r.code == 1 and "expected s3://BUCKET[/PREFIX] or file:///FOLDER" in r.err


def _started(store, proc) -> bool:
    """Some bytes of v1 reached the store (an object, a multipart upload or a temp file), or the process ended."""
    if proc.poll() is not None:
        return True
    if store.s3:
        bucket = store.uri[5:].split("/")[0]
        c = store.s3.client()
        return bool(c.list_multipart_uploads(Bucket=bucket).get("Uploads")) or bool(store.keys())
    return any(p.is_file() for p in store.folder.rglob("*"))  # a file: a bare folder is no orphan for gc


def test_kill_9_during_upload_then_rerun(reg, training, store, tmp_path):
    set_store(reg.root, store.uri)
    folder = training(files={"a-small.txt": "small\n"})
    size = (48 << 20) if store.s3 else (256 << 20)  # a local copy is fast: give it more to do
    with open(folder / "model.bin", "wb") as f:
        f.truncate(size)  # sparse: cheap to make, real bytes to read and send
    head = git(reg.root, "rev-parse", "HEAD")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlreg", "register", "m", "--from-dir", str(folder)],
        cwd=reg.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not _started(store, proc) and time.monotonic() < deadline:
        time.sleep(0.005)  # polling for the upload to begin, not ordering events
    proc.send_signal(signal.SIGKILL)
    proc.communicate()  # (not wait(): this also closes the pipes)
    assert proc.returncode == -signal.SIGKILL, "register finished before it could be killed"
    _unchanged(reg, head)  # nothing committed, no version folder left behind
    assert not (reg.root / "registry/m").exists()
    reg._settings = None
    left = reg.gc(dry_run=True, grace=0)  # at most orphans: objects, a temp file or a multipart upload
    assert left.marked or left.pending
    reg.register("m", folder)  # the rerun finishes the job
    checks = reg.verify("m", "1", download=True)
    assert {c.status for c in checks} == {"ok"} and len(checks) == 3
