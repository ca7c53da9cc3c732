"""Shared fixtures: isolated git, throwaway registries, training folders, an in-process CLI runner."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlreg.api import Registry
from mlreg.cli import main

from browser import chromium
from helpers import compact, free_port, git, isolate_git, isolated, new_repo, origin_and_clone  # noqa: F401  (re-exported)
from storekit import own_cache, s3_env, s3_server, store  # noqa: F401  (fixtures for every test folder)


def build_the_cli_once() -> None:
    """Typer builds the click command from the app's signatures on every call of the app (~80 ms of CPU, as much
    as many commands take to run); the tests call `mlreg.cli.main` in-process over a thousand times. The command
    is a pure function of the app (built at import, never changed after), so the tests build it once per process:
    `main` itself, its parsing and its error handling run as they do for users."""
    import functools

    import typer.main

    if not hasattr(typer.main.get_command, "cache_info"):
        typer.main.get_command = functools.cache(typer.main.get_command)


build_the_cli_once()


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory, monkeypatch):
    """No user or system git config leaks in; commits carry a fixed test identity."""
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))


class Clock:
    """An injectable clock that moves one minute per reading: ordering from data, never sleeps."""

    def __init__(self, start: dt.datetime = dt.datetime(2025, 6, 10, 14, 17, tzinfo=dt.UTC)):
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(minutes=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> dict[str, Path]:
    """Built once per session (per xdist worker), copied per test: `empty`, what `repo_dir` is, and `initialised`,
    what `reg` is (a `mlreg init` with the default preset, committed)."""
    base = tmp_path_factory.mktemp("templates")
    with isolated(tmp_path_factory.mktemp("templates-env")):
        empty = new_repo(base / "empty")
        compact(empty)
        shutil.copytree(empty, base / "initialised", symlinks=True)
        Registry(base / "initialised", clock=Clock()).init()
        compact(base / "initialised")
    return {"empty": empty, "initialised": base / "initialised"}


def copy_repo(template: Path, root: Path) -> Path:
    """A copy of a template repository at `root`, its index refreshed for the copied files."""
    shutil.copytree(template, root, symlinks=True)
    git(root, "update-index", "-q", "--refresh")
    return root


@pytest.fixture
def repo_dir(request, tmp_path: Path, templates) -> Path:
    """An empty git repository with one unrelated commit (in a test that also takes `reg`: reg's folder)."""
    if "reg" in request.fixturenames:
        return request.getfixturevalue("reg").root
    return copy_repo(templates["empty"], tmp_path / "repo")


@pytest.fixture
def reg(tmp_path: Path, clock: Clock, templates) -> Registry:
    """A registry initialised with the default preset (committed) at `tmp_path/repo`, with a registry id of its
    own: the init commit is the template's, amended with a fresh `registry_id` (sync's lease and marks are keyed
    by it)."""
    repo_dir = tmp_path / "repo"
    shutil.copytree(templates["initialised"], repo_dir, symlinks=True)
    settings = repo_dir / "mlreg.yaml"
    text = settings.read_text()
    found = re.search(r"^registry_id: .*$", text, re.M)
    assert found, text
    fresh = yaml.safe_dump({"registry_id": uuid.uuid4().hex[:16]}).strip()  # quoted when all digits, as init does
    settings.write_text(text.replace(found[0], fresh))
    git(repo_dir, "commit", "-q", "-a", "--amend", "--no-edit")  # -a refreshes the index for the copied files
    return Registry(repo_dir, clock=clock)


@dataclass
class Training:
    """Builds training output folders like a training script would."""

    base: Path
    count: int = 0

    def __call__(self, metrics: dict | None = None, files: dict[str, str] | None = None, **meta) -> Path:
        self.count += 1
        folder = self.base / "BINANCE_BTCUSDT.P, 60" / f"run_{self.count:03d}"
        folder.mkdir(parents=True)
        doc = {
            "run_name": f"run_2025100{self.count}_145809_lgbm_y_logret_168h_huber",
            "experiment": "binance-btcusdt-perp-1h-7d-logret",
            "training_timestamp": "2025-10-08T14:58:09Z",
            "model_type": "lgbm",
            "target": "y_logret_168h",
            "objective": "huber",
            "primary_metric": "rmse",
            "dataset": "BINANCE_BTCUSDT.P, 60",
            "feature_list_id": "binance_btcusdt_p60_default",
            "params": {"learning_rate": 0.03, "num_leaves": 63},
            "metrics": metrics
            if metrics is not None
            else {"rmse_train": 0.0548, "rmse_val": 0.0669, "rmse_test": 0.0448},
        } | meta
        (folder / "run_metadata.json").write_text(json.dumps(doc))
        for name, text in (files or {"model.txt": f"tree model {self.count}\n"}).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        return folder


@pytest.fixture
def training(tmp_path: Path) -> Training:
    return Training(tmp_path / "models")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `mlreg ARGS` in-process in a folder; returns exit code, stdout and stderr."""

    def run(cwd: Path, *args: str) -> Result:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def read_models(monkeypatch) -> list[str]:
    """The model name of every metadata.json a test reads, in order (to prove reads stay in one folder)."""
    from mlreg.core.files import RegistryFiles  # (not `store`: that name is the object-store fixture)

    seen: list[str] = []
    real = RegistryFiles.version

    def spy(self, name, number, *a, **k):
        seen.append(name)
        return real(self, name, number, *a, **k)

    monkeypatch.setattr(RegistryFiles, "version", spy)
    return seen


# -- tiers -----------------------------------------------------------------------------------------------------
# Every test that starts a server, a browser or a crash run carries its marker, so `python -m pytest -m fast`
# (every test without one of them) runs in minutes, not half an hour (docs/development.md has the figures).
# Markers follow from what a test uses, so a new test
# is tiered without anyone remembering to: the fixtures it needs (server, team, s3), or the table below for
# modules and tests whose heavy part is not a fixture (prefer `pytestmark` in a file you own); a module using
# tests/browser.py's `chromium` is a browser test.
HEAVY = ("server", "team", "browser", "crash", "s3", "slow", "benchmark")
BY_FIXTURE = {
    "mlflow_server": "server",
    "team_stack": "team",
    "team_direct": "team",
    "s3_server": "s3",
    "action_dir": "slow",  # the GitHub Action run for real (tests/test_action.py's: a virtualenv, mlreg installed)
}
BY_NODE = {  # node id prefix (relative to tests/) -> marker
    "test_transactions.py::test_killed_at_each_step": "crash",  # each case runs an mlreg that kill -9s itself
    "test_transactions.py::test_a_write_after_the_kill": "crash",
    "test_transactions.py::test_a_ref_lock_left_by_a_killed": "crash",
    "test_transactions.py::test_the_user_edit_made_while_interrupted": "crash",
    "test_kill9.py": "crash",
    "storage/test_store_errors.py::test_kill_9_during_upload": "crash",
    "sync/test_sync_server.py::test_killed_sync_process": "crash",
    # slow: seconds each on an idle machine, none of the above
    "test_action.py": "slow",  # the GitHub Action's steps on pull requests through bare origins
    "test_hostile_folders.py::test_thirty_thousand_files": "slow",
    "sync/test_sync_embedded.py": "slow",  # the embedded MLflow (its import, its sqlite store, `mlreg ui`)
    "sync/test_sync_store.py": "slow",
    "sync/test_sync_readonly.py": "slow",
    "sync/test_sync_uri.py": "slow",
    "sync/test_import_mlflow.py": "slow",
    "sync/test_import_store.py": "slow",
}


# -- running in parallel (pytest-xdist: `-n 2`) ------------------------------------------------------------------
# Each worker builds its own templates and worlds and starts the session servers its tests need (a worker that
# runs sync tests starts its own `mlflow server`). The tests of two expensive session resources run on one worker:
# the team stacks (three servers each; their tests stop and restart parts on fixed ports) and the action's
# virtualenv (mlreg installed in it). xdist's own `--dist loadgroup` cannot do it under pytest 9 (it renames
# node ids through an attribute pytest no longer reads), so the scheduler below groups by path: one unit per
# group, one per test otherwise, handed out in collection order (team tests last).
XDIST_GROUPS = {"tests/sync/team/": "team", "tests/test_action.py": "action", "tests/test_action_hostile.py": "action"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class Grouped(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((group for path, group in XDIST_GROUPS.items() if nodeid.startswith(path)), nodeid)

    return Grouped(config, log)


def pytest_configure(config):
    # Output is read at a fixed width, as piped output is: long temp paths (a worker's folder) are never wrapped.
    os.environ["COLUMNS"] = "200"


@pytest.hookimpl(tryfirst=True)  # the tiers are set before other hooks (the team conftest's) read them
def pytest_collection_modifyitems(config, items):
    tests = Path(__file__).parent
    for item in items:
        for fixture, marker in BY_FIXTURE.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
        if getattr(getattr(item, "callspec", None), "params", {}).get("store") == "s3":  # the s3 half of `store`
            item.add_marker("s3")
        if getattr(getattr(item, "module", None), "chromium", None) is chromium:
            item.add_marker("browser")
        node = Path(str(item.path)).relative_to(tests).as_posix() + item.nodeid[len(item.nodeid.split("::")[0]) :]
        for prefix, marker in BY_NODE.items():
            if node.startswith(prefix):
                item.add_marker(marker)
        if not any(item.get_closest_marker(m) for m in HEAVY):
            item.add_marker("fast")
