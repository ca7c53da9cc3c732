"""Big files (sent to S3 in parts), conditional writes on them, and gc of multipart uploads never completed."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import git
from mlreg.errors import MlregError
from mlreg.uploads import collect_garbage

from storekit import make_bucket, set_store

BIG = 40 << 20  # 3 parts of 16 MiB on S3


def _big_folder(training, fill: bytes = b"a"):
    folder = training(files={"small.txt": "small\n"})
    (folder / "model.bin").write_bytes(fill * BIG)
    return folder


def test_big_file_goes_in_parts_and_is_checked(reg, training, store, tmp_path):
    set_store(reg.root, store.uri)
    reg._settings = None
    folder = _big_folder(training)
    seen: list[int] = []
    reg.register("big", folder, progress=lambda n, total: seen.append(n))
    doc = json.loads((reg.root / "registry/big/v1/metadata.json").read_text())
    art = next(a for a in doc["artifacts"] if a["path"] == "model.bin")
    assert art["size"] == BIG and art["sha256"] == hashlib.sha256(b"a" * BIG).hexdigest()
    assert sum(seen) == sum(a["size"] for a in doc["artifacts"])  # every byte reported once
    if store.s3:
        bucket, key = art["uri"][5:].split("/", 1)
        head = store.s3.client().head_object(Bucket=bucket, Key=key)
        assert head["ETag"].strip('"').endswith("-3") and head["ContentLength"] == BIG
        assert not store.s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert store.read(art["uri"]) == b"a" * BIG
    report = reg.pull("big/1", tmp_path / "out")
    assert (tmp_path / "out/model.bin").stat().st_size == BIG and report.downloaded_bytes >= BIG


def test_big_file_over_other_bytes_is_refused(reg, training, store):
    set_store(reg.root, store.uri)
    reg._settings = None
    uri = f"{store.uri}/big/v1/model.bin"
    store.write(uri, b"b" * BIG)  # same size, other bytes
    head = git(reg.root, "rev-parse", "HEAD")
    with pytest.raises(MlregError, match="model.bin already exists with different bytes"):
        reg.register("big", _big_folder(training))
    assert store.read(uri) == b"b" * BIG
    assert git(reg.root, "rev-parse", "HEAD") == head and not (reg.root / "registry/big").exists()
    if store.s3:  # the refused upload's parts were freed
        bucket = store.uri[5:].split("/")[0]
        assert not store.s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_big_file_already_there_is_reused(reg, training, store):
    set_store(reg.root, store.uri)
    reg._settings = None
    folder = _big_folder(training)
    store.write(f"{store.uri}/big/v1/model.bin", b"a" * BIG)  # left by an interrupted register
    reg.register("big", folder)
    assert {c.status for c in reg.verify("big", "1", download=True)} == {"ok"}


def _start_upload(client, bucket: str, key: str) -> str:
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"p" * (5 << 20))
    return upload


def test_gc_aborts_multipart_uploads_never_completed(reg, training, s3_env, cli):
    bucket = make_bucket(s3_env)
    set_store(reg.root, f"s3://{bucket}/models")
    client = s3_env.client()
    _start_upload(client, bucket, "models/m/v3/model.bin")  # a register killed mid-upload
    _start_upload(client, bucket, "elsewhere/model.bin")  # not under the store: not gc's business
    started = client.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["Initiated"].timestamp()
    young = collect_garbage(f"s3://{bucket}/models", set(), dry_run=True, now=started + 60)  # a register at work
    assert young.uploads == []  # (moto dates every upload in 2010, so the clock is set, not waited for)
    r = cli(reg.root, "gc", "--dry-run", "--min-age", "0", "--json")
    assert r.code == 0, r.err
    assert [u["uri"] for u in r.json()["uploads"]] == [f"s3://{bucket}/models/m/v3/model.bin"]
    assert len(client.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 2  # a dry run only lists
    r = cli(reg.root, "gc", "--min-age", "0", "--json")
    assert r.code == 0 and r.json()["removed"] and len(r.json()["uploads"]) == 1
    left = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["Key"] for u in left] == ["elsewhere/model.bin"]
