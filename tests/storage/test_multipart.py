"""Big files (sent to S3 in parts), conditional writes on them, and gc of multipart uploads never completed."""

from __future__ import annotations

import hashlib
import json

import pytest

from mlreg.errors import MlregError

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


def _namespace(reg, store) -> str:
    from mlreg.objects.uploads import registry_key

    return f"{store.uri}/_mlreg/{registry_key(reg.root)}"


def test_big_file_over_other_bytes_is_refused(reg, store, tmp_path):
    from mlreg.objects.uploads import upload_files

    set_store(reg.root, store.uri)
    uri = f"{_namespace(reg, store)}/big/v1-0123456789ab/model.bin"
    store.write(uri, b"b" * BIG)  # same size, other bytes
    local = tmp_path / "model.bin"
    local.write_bytes(b"a" * BIG)
    with pytest.raises(MlregError, match="model.bin already exists with different bytes"):
        upload_files([(local, uri)])
    assert store.read(uri) == b"b" * BIG
    if store.s3:  # the refused upload's parts were freed
        bucket = store.uri[5:].split("/")[0]
        assert not store.s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_big_file_already_there_is_reused(reg, store, tmp_path):
    from mlreg.objects.uploads import upload_files

    set_store(reg.root, store.uri)
    uri = f"{_namespace(reg, store)}/big/v1-0123456789ab/model.bin"
    store.write(uri, b"a" * BIG)  # the same bytes, put there before
    local = tmp_path / "model.bin"
    local.write_bytes(b"a" * BIG)
    sent: list[int] = []
    (up,) = upload_files([(local, uri)], progress=lambda n, total: sent.append(n))
    assert up.sha256 == hashlib.sha256(b"a" * BIG).hexdigest() and store.read(uri) == b"a" * BIG


def _start_upload(client, bucket: str, key: str) -> str:
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"p" * (5 << 20))
    return upload


def test_gc_aborts_multipart_uploads_never_completed_in_two_runs(reg, training, s3_env, cli):
    bucket = make_bucket(s3_env)
    set_store(reg.root, f"s3://{bucket}/models")
    ns = _namespace(reg, type("K", (), {"uri": f"s3://{bucket}/models"})())
    key = ns[len(f"s3://{bucket}/") :] + "/m/v3-0123456789ab/model.bin"
    client = s3_env.client()
    _start_upload(client, bucket, key)  # a register killed mid-upload
    _start_upload(client, bucket, "elsewhere/model.bin")  # not under the registry's namespace: not gc's business
    _start_upload(client, bucket, "models/m/v3/model.bin")  # the old layout: never gc's business either
    r = cli(reg.root, "gc", "--grace", "0", "--json")
    assert r.code == 0, r.err
    assert r.json()["aborted_uploads"] == []  # first run: marked only (a register may be sending it right now)
    r = cli(reg.root, "gc", "--dry-run", "--grace", "0", "--json")
    assert [u["uri"] for u in r.json()["aborted_uploads"]] == [f"s3://{bucket}/{key}"]
    assert len(client.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 3  # a dry run only lists
    r = cli(reg.root, "gc", "--grace", "0", "--json")
    assert r.code == 0 and len(r.json()["aborted_uploads"]) == 1
    left = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted(u["Key"] for u in left) == ["elsewhere/model.bin", "models/m/v3/model.bin"]
