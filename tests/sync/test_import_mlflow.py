"""mlreg import mlflow: a real MLflow (the session's server, or an sqlite store) into git, then sync back."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from mlreg.api import Registry
from mlreg.core.records import Base

from .sync_helpers import bookkeeping, free_port, git, runs_of, versions_of

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # MLflow's legacy stages, used on purpose
    pytest.mark.filterwarnings("ignore::UserWarning"),
]
server = pytest.mark.server
START_MS = 1_760_000_000_000  # 2025-10-09T08:53:20Z


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_version(
    c,
    name,
    exp,
    tmp_path,
    *,
    files=None,
    params=None,
    metrics=(),
    run_tags=None,
    tags=None,
    description=None,
    run_name=None,
):
    """A finished run with params, metrics (logged in order) and files, then a model version from its artifacts."""
    from mlflow.entities import Param

    run = c.create_run(exp, start_time=START_MS, tags=run_tags or {}, run_name=run_name)
    rid = run.info.run_id
    c.log_batch(rid, params=[Param(k, v) for k, v in (params or {}).items()])
    for step, (key, value) in enumerate(metrics):
        c.log_metric(rid, key, value, START_MS + step, step)
    folder = tmp_path / f"art-{rid}"
    for rel, text in (files or {"model.txt": f"weights {rid}\n"}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    c.log_artifacts(rid, str(folder))
    c.set_terminated(rid)
    if not c.search_registered_models(f"name = '{name}'"):
        c.create_registered_model(name)
    return c.create_model_version(name, run.info.artifact_uri, rid, tags=tags or {}, description=description)


def log_pyfunc(uri: str, exp: str, monkeypatch, register: str | None = None) -> str:
    """An MLflow 3 logged pyfunc model (predicts 3 * x) in a run of `exp`, registered as `register`; its run id."""
    import warnings

    import mlflow
    import mlflow.pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        class Scaler(mlflow.pyfunc.PythonModel):  # defined here so cloudpickle stores it by value
            def predict(self, context, model_input, params=None):
                return [3 * x for x in model_input["x"]]

        with mlflow.start_run(experiment_id=exp, run_name="scaler_3") as run:
            mlflow.log_param("factor", "3")
            mlflow.pyfunc.log_model(
                name="model", python_model=Scaler(), pip_requirements=["mlflow"], registered_model_name=register
            )
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    return run.info.run_id


def commits(root) -> int:
    return int(git(root, "rev-list", "--count", "HEAD"))


def read(root, name, n):
    return Registry(root).get(name, str(n)).record


@server
def test_import_models_versions_runs_and_files_in_one_commit(reg, mlflow_server, uniq, cli, tmp_path):
    url, c = mlflow_server.url, mlflow_server.client()
    a, b = f"{uniq}-lgbm", f"{uniq}-agent"
    exp = c.create_experiment(f"{uniq}-exp")
    c.create_registered_model(a, tags={"team": "quant", "mlreg.digest": "stale"}, description="BTC 1h regressor")
    v1 = make_version(
        c,
        a,
        exp,
        tmp_path,
        files={"model.txt": "tree 1\n", "cfg/params.json": "{}"},
        params={"objective": "huber", "num_leaves": "63"},
        metrics=[("rmse_val", 0.08), ("rmse_val", 0.0669)],
        run_tags={"target_type": "regression", "mlflow.note.content": "system"},
        run_name="run_lgbm_1",
        tags={
            "stage": "beta",
            "owner": "ana",
            "promotion_20250610_1418": "development -> beta",
            "version_type": "latest",
            "mlreg.commit": "abc",
        },
        description="first",
    )
    make_version(c, a, exp, tmp_path, metrics=[("rmse_val", 0.06)])
    c.set_registered_model_alias(a, "champion", "2")  # mlreg's champion alias mirrors the champion stage
    c.set_registered_model_alias(a, "shadow", "1")
    make_version(
        c,
        b,
        exp,
        tmp_path,
        files={"model.zip": "agent"},
        tags={
            "model_type": "continued",
            "enhancement_type": "continued",
            "base_model_run_id": v1.run_id,
            "total_timesteps": "150000",
            "previous_timesteps": "100000",
        },
    )
    before = commits(reg.root)

    r = cli(reg.root, "import", "mlflow", "--tracking-uri", url, "--model", a, "--model", b)

    assert r.code == 0, r.err
    assert f"imported {a} v2 (stage champion, 1 file(s))" in r.out
    assert commits(reg.root) == before + 1
    message = git(reg.root, "log", "-1", "--format=%B")
    assert message.startswith(f"mlreg: import 3 version(s) of {b}, {a} from MLflow\n")
    assert "Mlreg-Action: import" in message and f"{a} v1 <- MLflow model version 1 (run {v1.run_id})" in message
    assert git(reg.root, "status", "--porcelain") == ""
    model = Registry(reg.root).files.model(a)
    assert (model.description, model.tags, model.aliases) == ("BTC 1h regressor", {"team": "quant"}, {"shadow": 1})
    assert model.derived_models == [b]
    r1 = read(reg.root, a, 1)
    assert (r1.version, r1.description, r1.stage) == (1, "first", "beta")
    assert (r1.run.experiment, r1.run.name, r1.run.mlflow_run_id) == (f"{uniq}-exp", "run_lgbm_1", v1.run_id)
    assert r1.run.training_timestamp == "2025-10-09T08:53:20Z"
    assert r1.params == {"objective": "huber", "num_leaves": "63"} and r1.metrics == {"rmse_val": 0.0669}
    assert r1.tags == {"target_type": "regression", "owner": "ana"}  # no mlflow.*, mlreg.* or sync-managed tags
    assert "promotion_20250610_1418=development -> beta" in r1.notes
    assert [(h.action, h.from_, h.to, h.at, h.reason) for h in r1.stage_history] == [  # rebuilt from promotion_*
        ("import", None, "development", "2025-06-10T14:18:00Z", f"imported from MLflow {url} (model version 1)"),
        ("promote", "development", "beta", "2025-06-10T14:18:00Z", None),
    ]
    assert [(x.path, x.sha256, x.size) for x in r1.artifacts] == [
        ("cfg/params.json", sha("{}"), 2),
        ("model.txt", sha("tree 1\n"), 7),
    ]
    assert (reg.root / f"registry/{a}/v1/model.txt").read_text() == "tree 1\n"
    assert read(reg.root, a, 2).stage == "champion" and f"{a} v2: imported in stage 'champion'" in r.out
    agent = read(reg.root, b, 1)
    assert agent.lineage.base == Base(a, 1) and agent.lineage.model_type == "continued"
    assert (agent.lineage.previous_timesteps, agent.lineage.total_timesteps) == (100000, 150000)
    assert cli(reg.root, "validate").code == 0

    # round trip: sync adopts the imported versions (git records their runs): mlreg's tags only, no conflict
    check = cli(reg.root, "sync", "--tracking-uri", url, "--check", "--json").json()
    assert check["conflicts"] == [] and check["totals"]["created"] == 0
    version_changes = {i["name"]: i["detail"] for i in check["changes"] if i["kind"] == "version"}
    assert sorted(version_changes) == [f"{b}/1", f"{a}/1", f"{a}/2"]
    assert "mlreg.sync" in version_changes[f"{a}/1"] and "stage" not in version_changes[f"{a}/1"]
    assert cli(reg.root, "sync", "--tracking-uri", url).code == 0
    mv = versions_of(c, a)
    assert sorted(mv) == [1, 2] and mv[1].run_id == v1.run_id and mv[1].tags["stage"] == "beta"
    assert bookkeeping(mv[1].tags) == ["mlreg.sync"] and mv[1].tags["owner"] == "ana"  # mlreg.commit dropped
    assert runs_of(c, a) == []  # the training runs were used, none made
    assert {k: int(v) for k, v in c.get_registered_model(a).aliases.items()} == {"champion": 2, "shadow": 1}
    assert cli(reg.root, "sync", "--tracking-uri", url, "--check").code == 0


@server
def test_imported_pyfunc_model_loads_from_git(reg, mlflow_server, uniq, monkeypatch):
    import pandas as pd

    import mlreg

    name = f"{uniq}-scaler"
    log_pyfunc(mlflow_server.url, mlflow_server.client().create_experiment(f"{uniq}-exp"), monkeypatch, name)
    assert versions_of(mlflow_server.client(), name)[1].source.startswith("models:/m-")  # MLflow 3 logged model

    report = reg.import_mlflow(mlflow_server.url, [name])

    (record,) = report.records
    paths = [x.path for x in record.artifacts]
    assert "MLmodel" in paths and "python_model.pkl" in paths and "registered_model_meta" not in paths
    assert record.params == {"factor": "3"} and record.run.name == "scaler_3"
    assert reg.validate() == []
    model = mlreg.load_model(f"{name}/1", repo=reg.root)
    assert list(model.predict(pd.DataFrame({"x": [1.0, 2.0]}))) == [3.0, 6.0]


@server
def test_external_records_mlflow_uris_with_digests(reg, mlflow_server, uniq, tmp_path):
    c, name = mlflow_server.client(), f"{uniq}-m"
    make_version(c, name, c.create_experiment(f"{uniq}-exp"), tmp_path, files={"model.bin": "big weights"})

    report = reg.import_mlflow(mlflow_server.url, [name], external=True)

    (art,) = read(reg.root, name, 1).artifacts
    assert art.path is None and art.uri.startswith("mlflow-artifacts:/") and art.uri.endswith("/model.bin")
    assert (art.sha256, art.size) == (sha("big weights"), 11)
    assert sorted(p.name for p in (reg.root / f"registry/{name}/v1").iterdir()) == ["metadata.json"]
    assert report.outcome.commit and reg.validate() == []


@server
def test_gap_in_mlflow_numbers_is_an_error_and_writes_nothing(reg, mlflow_server, uniq, cli, tmp_path):
    c, gap, fine = mlflow_server.client(), f"{uniq}-gap", f"{uniq}-fine"
    exp = c.create_experiment(f"{uniq}-exp")
    for _ in range(3):
        make_version(c, gap, exp, tmp_path)
    make_version(c, fine, exp, tmp_path)
    c.delete_model_version(gap, "2")
    head = git(reg.root, "rev-parse", "HEAD")

    r = cli(reg.root, "import", "mlflow", "--tracking-uri", mlflow_server.url, "--model", fine, "--model", gap)

    assert r.code == 1 and "Traceback" not in r.err
    assert f"MLflow model '{gap}' has versions 1, 3: 2 missing" in r.err and "contiguous" in r.err
    assert git(reg.root, "rev-parse", "HEAD") == head and git(reg.root, "status", "--porcelain") == ""
    assert not (reg.root / "registry" / fine).exists()
    assert cli(reg.root, "import", "mlflow", "--tracking-uri", mlflow_server.url, "--model", fine).code == 0
    assert Registry(reg.root).files.version_numbers(fine) == [1]


@server
def test_second_import_brings_only_the_new_versions(reg, mlflow_server, uniq, cli, tmp_path):
    c, name = mlflow_server.client(), f"{uniq}-m"
    exp = c.create_experiment(f"{uniq}-exp")
    for _ in range(2):
        make_version(c, name, exp, tmp_path)
    args = ("import", "mlflow", "--tracking-uri", mlflow_server.url, "--model", name)
    assert cli(reg.root, *args).code == 0
    first = (reg.root / f"registry/{name}/v1/metadata.json").read_bytes()
    make_version(c, name, exp, tmp_path)
    before = commits(reg.root)

    r = cli(reg.root, *args)

    assert r.code == 0 and f"imported {name} v3" in r.out and f"{name} v1 " not in r.out
    assert "v1-v2 already in git; importing version(s) 3 " in r.out
    assert git(reg.root, "log", "-1", "--format=%s").strip() == f"mlreg: import 1 version(s) of {name} from MLflow"
    assert commits(reg.root) == before + 1 and Registry(reg.root).files.version_numbers(name) == [1, 2, 3]
    assert (reg.root / f"registry/{name}/v1/metadata.json").read_bytes() == first
    again = cli(reg.root, *args)
    assert again.code == 0 and "nothing to import" in again.out and "skipped, already in git (v1-v3)" in again.out
    assert commits(reg.root) == before + 1


@server
def test_legacy_stages_map_and_an_exclusive_stage_keeps_one_holder(repo_dir, clock, mlflow_server, uniq, tmp_path):
    reg = Registry(repo_dir, clock=clock)
    reg.init("candidate")
    c, name = mlflow_server.client(), f"{uniq}-m"
    exp = c.create_experiment(f"{uniq}-exp")
    for _ in range(3):
        make_version(c, name, exp, tmp_path)
    c.transition_model_version_stage(name, "1", "Production")
    c.transition_model_version_stage(name, "2", "Production")  # MLflow allows two; mlreg's production is exclusive
    c.transition_model_version_stage(name, "3", "Staging")  # no such stage in the candidate lifecycle

    report = reg.import_mlflow(mlflow_server.url, [name])

    assert [r.stage for r in report.records] == ["archived", "production", "none"]
    assert any(f"{name} v1: 'production' is exclusive and v2 holds it" in n for n in report.notes)
    assert "MLflow stage: Production." in read(reg.root, name, 1).notes
    assert reg.validate() == []


@server
def test_unknown_model_and_unreachable_server_are_one_line_errors(reg, mlflow_server, uniq, cli):
    r = cli(reg.root, "import", "mlflow", "--tracking-uri", mlflow_server.url, "--model", f"{uniq}-nope")
    assert r.code == 1 and r.err.count("\n") == 1 and f"no registered model named '{uniq}-nope'" in r.err

    url = f"http://bob:hunter2secret@127.0.0.1:{free_port()}"
    start = time.monotonic()
    r = cli(reg.root, "import", "mlflow", "--tracking-uri", url)
    assert time.monotonic() - start < 15
    assert r.code == 1 and r.err.count("\n") == 1 and "Traceback" not in r.err
    assert "Error: cannot reach MLflow at http://***@127.0.0.1" in r.err and "rerun `mlreg import mlflow`" in r.err
    assert "hunter2secret" not in r.out + r.err
    assert not (reg.root / "registry" / f"{uniq}-nope").exists()


def test_import_everything_from_an_sqlite_store(reg, tmp_path, cli, monkeypatch):
    from mlflow import MlflowClient

    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    c = MlflowClient(uri, uri)
    exp = c.create_experiment("laptop", artifact_location=(store / "artifacts").as_uri())
    make_version(
        c,
        "clf",
        exp,
        tmp_path,
        files={"metadata.json": '{"mine": 1}', "w.bin": "w"},
        metrics=[("auc_val", 0.9), ("logloss_val", float("nan"))],
    )
    v2 = make_version(c, "clf", exp, tmp_path)
    c.create_model_version("clf", f"runs:/{v2.run_id}/no-such-folder", v2.run_id)  # files gone: imported without
    c.create_registered_model("empty", description="no versions yet")
    run_id = log_pyfunc(uri, exp, monkeypatch)
    c.create_registered_model("pyf")
    c.create_model_version("pyf", f"runs:/{run_id}/model", run_id)  # MLflow finds the run's logged model

    assert "no MLflow to import from" in cli(reg.root, "import", "mlflow").err
    missing = tmp_path / "nope.db"
    r = cli(reg.root, "import", "mlflow", "--tracking-uri", f"sqlite:///{missing}")
    assert r.code == 1 and "no MLflow database" in r.err and not missing.exists()
    dry = cli(reg.root, "import", "mlflow", "--tracking-uri", uri, "--dry-run", "--json")
    assert dry.code == 0 and [(v["model"], v["version"]) for v in dry.json()["versions"]] == [
        ("clf", 1),
        ("clf", 2),
        ("clf", 3),
        ("pyf", 1),
    ]
    assert dry.json()["commit"] is None and not (reg.root / "registry" / "clf").exists()

    r = cli(reg.root, "import", "mlflow", "--tracking-uri", uri, "--json")

    assert r.code == 0, r.err
    doc = r.json()
    assert doc["commit"] == git(reg.root, "rev-parse", "HEAD").strip() and doc["dry_run"] is False
    subject = git(reg.root, "log", "-1", "--format=%s").strip()
    assert subject == "mlreg: import 4 version(s) of clf, empty, pyf from MLflow"
    assert git(reg.root, "status", "--porcelain") == ""  # no stray ./mlflow.db from MLflow's default store
    assert read(reg.root, "clf", 3).artifacts == [] and any("clf v3: no files at runs:/" in n for n in doc["notes"])
    assert Registry(reg.root).files.model("empty").description == "no versions yet"
    v1 = read(reg.root, "clf", 1)
    assert [x.path for x in v1.artifacts] == ["model/metadata.json", "model/w.bin"]  # the record keeps its name
    assert v1.metrics == {"auc_val": 0.9} and "logloss_val" in v1.notes
    assert json.loads((reg.root / "registry/clf/v1/model/metadata.json").read_text()) == {"mine": 1}
    pyf = [x.path for x in read(reg.root, "pyf", 1).artifacts]
    assert "MLmodel" in pyf and "python_model.pkl" in pyf and "registered_model_meta" not in pyf
    assert cli(reg.root, "validate").code == 0
    c.create_registered_model("two words")
    r = cli(reg.root, "import", "mlflow", "--tracking-uri", uri)
    assert r.code == 1 and "'two words': not usable as registry names" in r.err and "--model NAME" in r.err


@pytest.mark.parametrize("flag", ["--no-commit", "--branch"])
def test_no_commit_and_branch(reg, tmp_path, cli, flag):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = MlflowClient(uri, uri)
    make_version(c, "m", c.create_experiment("e", artifact_location=(tmp_path / "a").as_uri()), tmp_path)
    head = git(reg.root, "rev-parse", "HEAD")
    args = [flag, "import-m"] if flag == "--branch" else [flag]

    assert cli(reg.root, "import", "mlflow", "--tracking-uri", uri, *args).code == 0

    assert git(reg.root, "rev-parse", "HEAD") == head
    if flag == "--branch":
        assert "registry/m/v1/model.txt" in git(reg.root, "ls-tree", "-r", "--name-only", "import-m")
        assert not (reg.root / "registry" / "m").exists()
    else:
        assert (reg.root / "registry/m/v1/model.txt").is_file()


class SecondsClock:
    """Moves 25 seconds per reading, so some promotions share a minute (`promotion_<ts>_2` tags)."""

    def __init__(self):
        import datetime as dt

        self.now, self.step = dt.datetime(2026, 11, 23, 11, 58, tzinfo=dt.UTC), dt.timedelta(seconds=25)

    def __call__(self):
        self.now += self.step
        return self.now


def tag_names(detail: str) -> list[str]:
    """The tag keys a sync item's detail sets or removes (`tags a, b; remove tags c`)."""
    names = []
    for part in detail.split("; "):
        for prefix in ("remove tags ", "tags "):
            if part.startswith(prefix):
                names += part[len(prefix) :].split(", ")
                break
    return names


@server
def test_promotion_history_survives_sync_then_import_then_sync(repo_dir, training, mlflow_server, uniq, tmp_path):
    url, name = mlflow_server.url, f"{uniq}-btc"
    src = Registry(repo_dir, clock=SecondsClock())
    src.init()
    for i in range(2):
        src.register(name, training(experiment=f"{uniq}-exp", metrics={"rmse_val": 0.07 - i / 100}))
    src.promote(name, "1", "beta", "good backtest")
    src.promote(name, "1", "champion", "best so far")
    src.promote(name, "2", "beta", "next in line")
    src.promote(name, "2", "champion", "beats v1")  # demotes v1 to archived
    assert src.sync(url, model=name).ok
    mlflow_tags = {n: v.tags for n, v in versions_of(mlflow_server.client(), name).items()}
    assert any(k.startswith("promotion_") and k.count("_") == 3 for k in mlflow_tags[1])  # a same-minute `_2`
    assert {"demotion_timestamp", "demotion_reason", "last_promoted_at", "promotion_reason"} <= set(mlflow_tags[1])
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    git(fresh, "commit", "-q", "--allow-empty", "-m", "initial")
    dst = Registry(fresh, clock=SecondsClock())
    dst.init()

    report = dst.import_mlflow(url, [name])

    assert not [n for n in report.notes if "does not reproduce" in n]
    assert dst.validate() == []
    for n in (1, 2):
        before, after = read(repo_dir, name, n), read(fresh, name, n)
        assert after.stage == before.stage and after.stage_history[0].action == "import"
        moves = [
            [(h.action, h.from_, h.to, h.at[:16]) for h in r.stage_history if h.action in ("promote", "demote")]
            for r in (before, after)
        ]
        assert moves[0] == moves[1] and moves[0]
        reasons = [[h.reason for h in r.stage_history if h.action in ("promote", "demote")] for r in (before, after)]
        assert reasons[1][-1] == reasons[0][-1]  # MLflow keeps the latest promotion's / the demotion's reason only
    check = dst.sync(url, model=name, check=True)
    drifted = [(i.name, t) for i in check.drift if i.kind == "version" for t in tag_names(i.detail)]
    assert drifted and all(t.startswith("mlreg.") for _, t in drifted), drifted
    assert not [i for i in check.drift if i.kind == "version" and not set(tag_names(i.detail))]
    assert dst.sync(url, model=name).ok
    after_sync = versions_of(mlflow_server.client(), name)
    for n, tags in mlflow_tags.items():
        assert {k: v for k, v in after_sync[n].tags.items() if not k.startswith("mlreg.")} == {
            k: v for k, v in tags.items() if not k.startswith("mlreg.")
        }
