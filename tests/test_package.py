"""The package as people get it: `python -m build` (sdist + wheel with the schemas, `twine check` clean),
the wheel in a fresh virtualenv without MLflow running the core commands, and the pre-commit hook run by
pre-commit itself. Builds and installs use pip's configured package index for the dependencies."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

import mlreg

from conftest import git

pytestmark = pytest.mark.slow  # builds the sdist and wheels, installs them

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = sorted(p.name for p in (ROOT / "schemas").glob("*.json"))
BUILD_OUTPUT = ("build", "dist", "*.egg-info", "__pycache__", ".mlreg", ".venv", "test-artifacts", ".pytest_cache")


def sh(*argv, cwd: Path | None = None, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    if ok:
        assert r.returncode == 0, f"{argv}: {r.stdout}{r.stderr}"
    return r


def clean_env(**extra: str) -> dict:
    """The environment without this checkout on PYTHONPATH: what runs is what was installed."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **extra}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """`python -m build` of a copy of this checkout (so no build output lands in it)."""
    src = tmp_path_factory.mktemp("src") / "mlreg"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*BUILD_OUTPUT))
    out = tmp_path_factory.mktemp("dist")
    sh(sys.executable, "-m", "build", "--outdir", out, src, env=clean_env())
    return out


@pytest.fixture(scope="module")
def core_venv(dist, tmp_path_factory) -> Path:
    """A fresh virtualenv with only the wheel (the core: no MLflow) and its dependencies."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    sh(sys.executable, "-m", "venv", venv)
    [wheel] = dist.glob("*.whl")
    sh(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        wheel,
        env=clean_env(),
    )
    return venv


def test_sdist_and_wheel_carry_the_schemas_and_one_version(dist):
    version = mlreg.__version__
    assert sorted(p.name for p in dist.iterdir()) == [f"mlreg-{version}-py3-none-any.whl", f"mlreg-{version}.tar.gz"]
    with zipfile.ZipFile(dist / f"mlreg-{version}-py3-none-any.whl") as whl:
        names = whl.namelist()
        meta = whl.read(f"mlreg-{version}.dist-info/METADATA").decode()
        entry = whl.read(f"mlreg-{version}.dist-info/entry_points.txt").decode()
        for name in SCHEMAS:
            assert whl.read(f"mlreg/schemas/{name}") == (ROOT / "schemas" / name).read_bytes()
    assert not [n for n in names if not n.startswith(("mlreg/", f"mlreg-{version}.dist-info/"))]  # no tests, no action/
    assert "mlreg = mlreg.cli:main" in entry
    requires = re.findall(r"^Requires-Dist: (.*)$", meta, re.M)
    assert not [r for r in requires if r.startswith("mlflow") and "extra" not in r]  # the core has no MLflow
    assert any(r.startswith("mlflow") and 'extra == "mlflow"' in r for r in requires)
    with tarfile.open(dist / f"mlreg-{version}.tar.gz") as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {f"schemas/{n}" for n in SCHEMAS} | {f"mlreg/schemas/{n}" for n in SCHEMAS} <= members
    assert "pyproject.toml" in members and "README.md" in members


def test_twine_check_passes(dist):
    r = sh(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()), env=clean_env())
    assert r.stdout.count("PASSED") == 2


def test_the_version_is_written_once():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and not re.search(r"^version\s*=\s*\"", pyproject, re.M)
    assert re.search(r'^__version__ = "\d+\.\d+\.\d+"$', (ROOT / "mlreg/__init__.py").read_text(), re.M)


def test_no_build_output_is_tracked():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = git(ROOT, "ls-files").splitlines()
    built = [p for p in tracked if re.search(r"(^|/)(build|dist|__pycache__|[^/]+\.egg-info)/|\.py[co]$", p)]
    assert built == []


def test_the_core_wheel_validates_diffs_and_registers_without_mlflow(core_venv, example_repo, training):
    env = clean_env(PATH=f"{core_venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    mlreg_bin = core_venv / "bin" / "mlreg"
    assert sh(core_venv / "bin" / "python", "-c", "import mlflow", env=env, ok=False).returncode == 1
    assert sh(mlreg_bin, "--version", env=env).stdout == f"mlreg {mlreg.__version__}\n"

    repo = example_repo
    assert sh(mlreg_bin, "validate", cwd=repo, env=env).stdout == "registry is valid\n"

    r = sh(mlreg_bin, "register", "rl-agent-1h", "--from-dir", training(), cwd=repo, env=env)
    assert r.stdout.startswith("register: rl-agent-1h v3: committed ")
    assert json.loads((repo / "registry/rl-agent-1h/v3/metadata.json").read_text())["version"] == 3
    sh(mlreg_bin, "promote", "rl-agent-1h@3", "beta", "--reason", "looks fine", cwd=repo, env=env)
    diff = sh(mlreg_bin, "diff", "HEAD~2", "HEAD", "--json", cwd=repo, env=env)
    assert "rl-agent-1h" in diff.stdout and json.loads(diff.stdout)
    # the gate takes a new version only as register writes it: the register and the promote land one by one
    assert (
        sh(mlreg_bin, "validate", "--base", "HEAD~2", "--head", "HEAD~1", cwd=repo, env=env).stdout
        == "registry is valid\n"
    )
    assert sh(mlreg_bin, "validate", "--base", "HEAD~1", cwd=repo, env=env).stdout == "registry is valid\n"
    refused = sh(mlreg_bin, "validate", "--base", "HEAD~2", cwd=repo, env=env, ok=False)
    assert refused.returncode == 1 and "new version arrives in stage 'beta'" in refused.stderr

    for argv, what in (
        (["sync"], "`mlreg sync`"),
        (["ui"], "`mlreg ui`"),
        (["import", "mlflow"], "`mlreg import mlflow`"),
    ):
        r = sh(mlreg_bin, *argv, cwd=repo, env=env, ok=False)
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == f"Error: {what} needs MLflow, which is not installed: pip install 'mlreg[mlflow]'\n"
    assert git(repo, "status", "--porcelain") == ""


# -- pre-commit ----------------------------------------------------------------------------------------
@pytest.fixture
def example_repo(tmp_path) -> Path:
    """A git repository holding a copy of the example registry, committed."""
    repo = tmp_path / "example-repo"  # not tmp_path/models: the `training` fixture writes there
    repo.mkdir()
    git(repo, "init", "-q")
    shutil.copytree(ROOT / "registry", repo / "registry")
    shutil.copy(ROOT / "mlreg.yaml", repo / "mlreg.yaml")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "example registry")
    return repo


def tamper(repo: Path) -> None:
    (repo / "registry/rl-agent-1h/v1/metadata.json").write_text("{}\n")
    git(repo, "add", "-A")


def test_pre_commit_try_repo_installs_and_runs_the_hook(example_repo, tmp_path):
    """pre-commit builds its own virtualenv with mlreg from this repository (as from the README's `repo:`)
    and runs the hook there: it refuses a broken registry (`test_workflows.py` shows the entry passing)."""
    if not (ROOT / ".git").exists():
        pytest.skip("pre-commit try-repo needs this checkout to be a git repository")
    tamper(example_repo)
    env = clean_env(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), PATH="/usr/local/bin:/usr/bin:/bin")
    assert shutil.which("mlreg", path=env["PATH"]) is None  # only the hook's own virtualenv has mlreg
    r = sh(
        sys.executable,
        "-m",
        "pre_commit",
        "try-repo",
        ROOT,
        "mlreg-validate",
        "--all-files",
        cwd=example_repo,
        env=env,
        ok=False,
    )
    assert r.returncode == 1 and re.search(r"^mlreg validate\.+Failed$", r.stdout, re.M), r.stdout + r.stderr
    assert "Error: registry/rl-agent-1h/v1/metadata.json" in r.stdout


def test_the_readme_local_hook_works_as_written(example_repo, tmp_path):
    [config] = [
        b
        for b in re.findall(r"```yaml\n(repos:\n.*?)```", (ROOT / "docs/how-to/ci.md").read_text(), re.S)
        if "repo: local" in b
    ]
    assert yaml.safe_load(config)["repos"][0]["hooks"][0]["id"] == "mlreg-validate"
    (example_repo / ".pre-commit-config.yaml").write_text(config)
    git(example_repo, "add", ".pre-commit-config.yaml")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # the mlreg installed here
    pre_commit = [sys.executable, "-m", "pre_commit"]
    r = sh(*pre_commit, "run", "--all-files", cwd=example_repo, env=env)
    assert re.search(r"^mlreg validate\.+Passed$", r.stdout, re.M), r.stdout
    tamper(example_repo)
    r = sh(*pre_commit, "run", "--all-files", cwd=example_repo, env=env, ok=False)
    assert r.returncode == 1 and "Error: registry/rl-agent-1h/v1/metadata.json" in r.stdout
