"""import mlflow with an object store configured: files already in S3 stay there as store-backed records."""

from __future__ import annotations

import pytest

from mlreg.api import Registry

from .sync_helpers import git
from .test_import_mlflow import make_version
from storekit import make_bucket, namespace, set_store, version_folder

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_s3_sources_stay_in_s3_and_others_go_to_the_store(reg, tmp_path, s3_env, cli):
    from mlflow import MlflowClient

    source_bucket = make_bucket(s3_env)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = MlflowClient(uri, uri)
    in_s3 = c.create_experiment("in-s3", artifact_location=f"s3://{source_bucket}/mlflow")
    on_disk = c.create_experiment("on-disk", artifact_location=(tmp_path / "mlruns").as_uri())
    mv = make_version(c, "s3model", in_s3, tmp_path, files={"model.txt": "in s3\n", "sub/w.bin": "w"})
    make_version(c, "diskmodel", on_disk, tmp_path, files={"model.txt": "on disk\n"})
    store = f"s3://{make_bucket(s3_env)}/models"
    set_store(reg.root, store)

    r = cli(reg.root, "import", "mlflow", "--tracking-uri", uri)

    assert r.code == 0, r.err
    files = git(reg.root, "show", "--name-only", "--format=", "HEAD").split()
    assert not [f for f in files if not f.endswith(("metadata.json", "model.yaml"))]  # no model bytes in git
    s3v = Registry(reg.root).get("s3model", "1").record
    assert {a.path: a.uri for a in s3v.artifacts} == {
        "model.txt": f"{mv.source}/model.txt",
        "sub/w.bin": f"{mv.source}/sub/w.bin",
    }
    assert mv.source.startswith(f"s3://{source_bucket}/mlflow/")  # recorded where MLflow keeps it: no copy
    disk = Registry(reg.root).get("diskmodel", "1").record
    folder = version_folder(Registry(reg.root), "diskmodel", "1")  # uploaded to the store
    assert [a.uri for a in disk.artifacts] == [f"{folder}/model.txt"]
    assert folder.startswith(f"{namespace(reg.root, store)}/diskmodel/v1-")
    reg2 = Registry(reg.root)
    assert {c.status for c in reg2.verify("s3model", "1", download=True)} == {"ok"}
    pulled = reg2.pull("diskmodel/1", tmp_path / "out")
    assert (tmp_path / "out/model.txt").read_text() == "on disk\n" and pulled.downloaded_files == 1
