"""mlreg.load_model: a real MLflow pyfunc model registered, promoted to champion, loaded and predicting."""

import json
import subprocess
import sys
import textwrap

import pytest

import mlreg

pytestmark = pytest.mark.slow  # MLflow pyfunc models, a process of their own

TRAIN = textwrap.dedent('''
    """A training script: saves a tiny pyfunc model with MLflow and writes run_metadata.json."""
    import json, sys
    import mlflow.pyfunc

    class Scaler(mlflow.pyfunc.PythonModel):
        def __init__(self, factor):
            self.factor = factor

        def predict(self, context, model_input, params=None):
            return [self.factor * x for x in model_input["x"]]

    for out, factor in zip(sys.argv[1::2], map(float, sys.argv[2::2])):
        mlflow.pyfunc.save_model(f"{out}/model", python_model=Scaler(factor), pip_requirements=["mlflow"])
        json.dump({"run_name": f"scaler_{factor:g}", "model_type": "pyfunc", "metrics": {"rmse_val": 1 / factor}},
                  open(f"{out}/run_metadata.json", "w"))
''')

INFERENCE = textwrap.dedent("""
    import pandas as pd
    import mlreg

    model = mlreg.load_model("models:/scaler@champion")  # the registry of the current repository
    print(list(model.predict(pd.DataFrame({"x": [1.0, 2.0]}))))
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two training output folders made by a real training script (factor 2 and factor 3)."""
    base = tmp_path_factory.mktemp("training")
    (base / "train.py").write_text(TRAIN)
    outs = [base / "run_2", base / "run_3"]
    subprocess.run(
        [sys.executable, str(base / "train.py"), str(outs[0]), "2", str(outs[1]), "3"], check=True, capture_output=True
    )
    return outs


@pytest.fixture
def scaler(reg, trained, cli):
    for out in trained:
        r = cli(reg.root, "register", "scaler", "--from-dir", str(out))
        assert r.code == 0, r.err
    reg.promote("scaler", "2", "beta", "backtest passed")
    reg.promote("scaler", "2", "champion", "best rmse_val")
    return reg


def test_load_champion_pyfunc_and_predict(scaler):
    import pandas as pd

    assert (scaler.root / "registry/scaler/v2/model/MLmodel").is_file()
    model = mlreg.load_model("models:/scaler@champion", repo=scaler.root)
    assert list(model.predict(pd.DataFrame({"x": [1.0, 2.0]}))) == [3.0, 6.0]
    first = mlreg.load_model("scaler/1", repo=scaler.root)
    assert list(first.predict(pd.DataFrame({"x": [1.0]}))) == [2.0]


def test_inference_script_in_its_own_process(scaler, tmp_path):
    script = tmp_path / "infer.py"
    script.write_text(INFERENCE)
    r = subprocess.run([sys.executable, str(script)], cwd=scaler.root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[3.0, 6.0]"


def test_champion_follows_a_rollback(scaler):
    import pandas as pd

    scaler.promote("scaler", "1", "beta", "retest")
    scaler.promote("scaler", "1", "champion", "rollback")
    model = mlreg.load_model("models:/scaler@champion", repo=scaler.root)
    assert list(model.predict(pd.DataFrame({"x": [1.0, 2.0]}))) == [2.0, 4.0]


def test_not_an_mlflow_model_returns_the_path_without_importing_mlflow(reg, training, tmp_path):
    reg.register("tree", training())
    src = training(files={"model.zip": "agent"})
    reg.register("agent", src, external=True)
    code = (
        "import sys, mlreg\n"
        "print(mlreg.load_model('tree@latest')); print(mlreg.load_model('models:/agent/1'))\n"
        "print(json.dumps('mlflow' in sys.modules))\n"
    ).replace("import sys", "import json, sys")
    r = subprocess.run([sys.executable, "-c", code], cwd=reg.root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tree, agent, imported = r.stdout.splitlines()
    assert tree == str(reg.root / "registry/tree/v1")
    assert agent == str(src.resolve() / "model.zip")
    assert json.loads(imported) is False


def test_load_model_unknown_ref_is_a_clear_error(reg, training):
    reg.register("tree", training())
    with pytest.raises(mlreg.errors.NotFound, match="tree: no version is in stage 'champion'"):
        mlreg.load_model("models:/tree@champion", repo=reg.root)
