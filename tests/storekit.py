"""Object-store fixtures (imported by tests/conftest.py): a real S3-compatible server (moto's server mode, with
authentication on) and a local-folder store; tests that take `store` run against both."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import free_port

S3_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)


@dataclass
class S3Server:
    """moto on 127.0.0.1 with one IAM user allowed s3:*; every request after set-up is authenticated."""

    endpoint: str
    key: str
    secret: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        )


@pytest.fixture(scope="session")
def s3_server():
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup"
    )
    iam.create_user(UserName="mlreg")
    iam.put_user_policy(
        UserName="mlreg",
        PolicyName="s3",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
        ),
    )
    key = iam.create_access_key(UserName="mlreg")["AccessKey"]
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()  # auth on from now
    yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)
    server.stop()


@dataclass
class StoreKit:
    """One store under test: its URI, and raw access to its objects (to tamper behind mlreg's back)."""

    kind: str  # s3 | local
    uri: str
    s3: S3Server | None = None
    folder: Path | None = None

    def _key(self, uri: str) -> tuple[str, str]:
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bucket, key

    def _path(self, uri: str) -> Path:
        from mlreg.objects.stores import ObjectStore

        return Path(ObjectStore.path(uri))

    def read(self, uri: str) -> bytes:
        if self.s3:
            b, k = self._key(uri)
            return self.s3.client().get_object(Bucket=b, Key=k)["Body"].read()
        return self._path(uri).read_bytes()

    def write(self, uri: str, data: bytes) -> None:
        if self.s3:
            b, k = self._key(uri)
            self.s3.client().put_object(Bucket=b, Key=k, Body=data)
            return
        p = self._path(uri)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists():
            p.chmod(0o644)
        p.write_bytes(data)

    def delete(self, uri: str) -> None:
        if self.s3:
            b, k = self._key(uri)
            self.s3.client().delete_object(Bucket=b, Key=k)
            return
        self._path(uri).unlink()

    def exists(self, uri: str) -> bool:
        if self.s3:
            b, k = self._key(uri)
            return self.s3.client().list_objects_v2(Bucket=b, Prefix=k).get("KeyCount", 0) > 0
        return self._path(uri).is_file()

    def keys(self) -> list[str]:
        """Every object URI under the store."""
        if self.s3:
            b, prefix = self._key(self.uri)
            pages = self.s3.client().get_paginator("list_objects_v2").paginate(Bucket=b, Prefix=prefix + "/")
            return sorted(f"s3://{b}/{o['Key']}" for p in pages for o in p.get("Contents", []))
        return sorted(p.as_uri() for p in self.folder.rglob("*") if p.is_file())


def namespace(root: Path, store_uri: str) -> str:
    """The registry's part of the store: `<store>/_mlreg/<registry id>`."""
    from mlreg.objects.uploads import registry_key

    return f"{store_uri}/_mlreg/{registry_key(root)}"


def version_folder(reg, model: str, ref: str) -> str:
    """The store folder a version's files were uploaded to (`<namespace>/<model>/v<N>-<random>`)."""
    from mlreg.objects.uploads import stored_folder

    folder = stored_folder(reg.get(model, ref).record)
    assert folder is not None
    return folder


def make_bucket(s3: S3Server) -> str:
    name = f"mlreg-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The moto server's endpoint and credentials in the environment (as a user would set them)."""
    for var in S3_VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    _forget_mlflow_s3_clients()
    yield s3_server
    _forget_mlflow_s3_clients()


def _forget_mlflow_s3_clients() -> None:
    """MLflow caches boto3 clients by endpoint, not by the credentials in the environment, and sync installs a
    boto3 default session (whose credentials are read once): a client or session made by another test with other
    keys would be reused."""
    import sys

    repo = sys.modules.get("mlflow.store.artifact.s3_artifact_repo")
    if repo is not None:
        repo._cached_get_s3_client.cache_clear()
    if "boto3" in sys.modules:
        sys.modules["boto3"].DEFAULT_SESSION = None


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Every test pulls into its own cache."""
    monkeypatch.setenv("MLREG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(params=["s3", "local"])
def store(request, tmp_path, monkeypatch) -> StoreKit:
    """The store under test: a fresh bucket on the moto server, or a local folder."""
    if request.param == "s3":
        s3 = request.getfixturevalue("s3_env")
        return StoreKit("s3", f"s3://{make_bucket(s3)}/models", s3=s3)
    folder = tmp_path / "store"
    folder.mkdir()
    return StoreKit("local", folder.as_uri(), folder=folder)


BTC_FILES = {"model.txt": "tree model\n", "sub/weights.bin": "w" * 5000}


@pytest.fixture
def stored(reg, training, store):
    """A registry whose committed mlreg.yaml names `store`, with btc v1 (BTC_FILES) registered there. Imported by
    the test files that use it (others define a `stored` of their own)."""
    set_store(reg.root, store.uri)
    reg._settings = None
    reg.register("btc", training(files=BTC_FILES))
    return reg


def set_store(root: Path, uri: str | None, extra: str = "") -> None:
    """Point mlreg.yaml's artifacts.store at `uri` (committed, like a team would)."""
    import subprocess

    import yaml

    path = root / "mlreg.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["artifacts"] = {"store": uri} if uri else {}
    path.write_text(yaml.safe_dump(doc, sort_keys=False) + extra)
    subprocess.run(["git", "commit", "-q", "-am", "store"], cwd=root, check=True)


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # no 1-second IMDS probe when credentials are absent
