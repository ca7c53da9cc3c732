"""Store-backed versions in MLflow: the model version's source is the store folder, loadable by MLflow alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlreg.sync import local_store

from .sync_helpers import versions_of
from storekit import set_store, version_folder

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # MLflow suggests type hints for predict()

LOAD = (
    "import sys, mlflow.pyfunc, pandas as pd; m = mlflow.pyfunc.load_model(f'models:/{sys.argv[1]}@champion'); "
    "print(list(m.predict(pd.DataFrame({'x': [1.0]}))))"
)


def _champion(reg, pyfunc_training, store_uri: str, name: str) -> None:
    set_store(reg.root, store_uri)
    reg._settings = None
    for factor in (2, 3):
        reg.register(name, pyfunc_training(factor, f"{name}-exp"))
    reg.promote(name, "2", "beta", "ok")
    reg.promote(name, "2", "champion", "best")


def _load_with_mlflow_alone(tracking_uri: str, name: str) -> str:
    """A fresh Python that imports only MLflow, with the same S3 environment."""
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri)
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", LOAD, name], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_store_backed_versions_point_mlflow_at_the_store(reg, pyfunc_training, store, where, request, cli, uniq):
    if where == "server" and store.kind == "local":
        pytest.skip("covered below: a server copies a folder store's files")
    _champion(reg, pyfunc_training, store.uri, uniq)
    uri = request.getfixturevalue("mlflow_server").url if where == "server" else local_store(reg.root).uri
    r = cli(reg.root, "sync", "--tracking-uri", uri)
    assert r.code == 0, r.err
    from mlflow import MlflowClient

    mv = versions_of(MlflowClient(uri, uri), uniq)
    assert mv[2].source == f"{version_folder(reg, uniq, '2')}/model"
    run = MlflowClient(uri, uri).get_run(mv[2].run_id)
    assert MlflowClient(uri, uri).list_artifacts(run.info.run_id) == []  # no byte went through MLflow
    assert _load_with_mlflow_alone(uri, uniq) == "[3.0]"
    assert reg.sync(tracking_uri=uri).writes == 0


def test_folder_store_with_a_server_copies_the_files_into_the_run(
    reg, pyfunc_training, tmp_path, mlflow_server, cli, uniq
):
    folder = tmp_path / "folder-store"
    _champion(reg, pyfunc_training, folder.as_uri(), uniq)
    r = cli(reg.root, "sync", "--tracking-uri", mlflow_server.url)
    assert r.code == 0, r.err
    mv = versions_of(mlflow_server.client(), uniq)
    assert mv[2].source.startswith("mlflow-artifacts:") and mv[2].source.endswith("/artifacts/model")
    assert _load_with_mlflow_alone(mlflow_server.url, uniq) == "[3.0]"


def test_external_versions_are_uploaded_when_their_files_are_readable(reg, pyfunc_training, tmp_path, cli):
    from mlflow import MlflowClient

    reg.register("ext", pyfunc_training(2, "ext-exp", name="ext"), external=True)
    gone = pyfunc_training(3, "ext-exp", name="gone")
    reg.register("ext", gone, external=True)
    gone.rename(tmp_path / "moved-away")  # v2's files are not readable where sync runs
    reg.promote("ext", "1", "beta", "ok")
    reg.promote("ext", "1", "champion", "best")
    uri = local_store(reg.root).uri
    r = cli(reg.root, "sync")
    assert r.code == 0, r.err
    c = MlflowClient(uri, uri)
    mv = versions_of(c, "ext")
    assert mv[1].source.endswith("/artifacts/model")
    assert _load_with_mlflow_alone(uri, "ext") == "[2.0]"
    assert [f.path for f in c.list_artifacts(mv[2].run_id)] == ["mlreg_external.json"]
