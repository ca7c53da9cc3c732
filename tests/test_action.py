"""mlreg's GitHub Action (action.yml), run for real in throwaway registry repositories.

The registry repository's workflows are this repository's thin callers with `uses: ./` replaced by
`uses: acme/mlreg@v0` (what a team writes); tests/gha.py runs them the way the Actions runner would, with
`acme/mlreg@v0` resolving to a copy of this checkout. The pull-request comment goes to a small GitHub API
stand-in on 127.0.0.1 (GITHUB_API_URL), a real HTTP server that keeps comments the way GitHub does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from conftest import git
from gha import load_workflow, run_action, run_workflow

ROOT = Path(__file__).resolve().parents[1]
ACTION = "acme/mlreg@v0"
TOKEN = "ghs_test-token"
REPO = "acme/models"


# -- the GitHub API stand-in -------------------------------------------------------------------------
class FakeGitHub(ThreadingHTTPServer):
    """Issue comments of one repository: list (paginated), create, update; Bearer token checked."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.comments: dict[int, list[dict]] = {}
        self.requests: list[tuple[str, str]] = []
        self.read_only = False
        self.next_id = 1000

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, number: int, body: str, login: str = "someone", kind: str = "User") -> dict:
        self.next_id += 1
        c = {
            "id": self.next_id,
            "body": body,
            "user": {"login": login, "type": kind},
            "html_url": f"https://github.com/{REPO}/pull/{number}#issuecomment-{self.next_id}",
        }
        self.comments.setdefault(number, []).append(c)
        return c


class _Handler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, doc) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        self.server.requests.append((method, self.path))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"message": "Bad credentials"})
        if method != "GET" and self.server.read_only:
            return self._send(403, {"message": "Resource not accessible by integration"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        if url.path == "/user" and method == "GET":  # what GitHub answers a GITHUB_TOKEN
            return self._send(403, {"message": "Resource not accessible by integration"})
        if m := re.fullmatch(rf"/repos/{REPO}/issues/(\d+)/comments", url.path):
            number = int(m.group(1))
            if method == "GET":
                q = parse_qs(url.query)
                per, page = int(q.get("per_page", ["30"])[0]), int(q.get("page", ["1"])[0])
                return self._send(200, self.server.comments.get(number, [])[(page - 1) * per : page * per])
            if method == "POST":
                return self._send(201, self.server.add(number, body["body"], "github-actions[bot]", "Bot"))
        if (m := re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", url.path)) and method == "PATCH":
            for c in (c for cs in self.server.comments.values() for c in cs if c["id"] == int(m.group(1))):
                c["body"] = body["body"]
                return self._send(200, c)
        return self._send(404, {"message": "Not Found"})

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PATCH(self):
        self._route("PATCH")


@pytest.fixture
def github():
    server = FakeGitHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# -- the action's checkout and a registry repository that uses it -------------------------------------
NOT_IN_THE_ACTION = ".git build dist *.egg-info __pycache__ .mlreg .venv test-artifacts .pytest_cache".split()
_RUNNER: dict[str, Path] = {}  # one per test process, for this module and test_action_hostile (which imports these)


@pytest.fixture(scope="module")
def action_dir(tmp_path_factory) -> Path:
    """This repository as GitHub hands it to a job that says `uses: acme/mlreg@v0` (no .git, no build output)."""
    if "action" not in _RUNNER:
        dest = tmp_path_factory.mktemp("action") / "mlreg"
        shutil.copytree(
            ROOT,
            dest,
            ignore=shutil.ignore_patterns(*NOT_IN_THE_ACTION),
        )
        _RUNNER["action"] = dest
    return _RUNNER["action"]


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory) -> Path:
    """The runner's temp folder, like a self-hosted runner's: the action's virtualenv there is installed once and
    reused (the install step checks the source digest it was made from)."""
    if "temp" not in _RUNNER:
        _RUNNER["temp"] = tmp_path_factory.mktemp("runner-temp")
    return _RUNNER["temp"]


def caller(name: str) -> str:
    """This repository's workflow as a registry repository writes it: the action by name, not `./`."""
    text = (ROOT / ".github" / "workflows" / name).read_text()
    assert "uses: ./\n" in text
    return text.replace("uses: ./\n", f"uses: {ACTION}\n")


@pytest.fixture
def models_repo(tmp_path, reg, training, cli):
    """A registry repository (workflows call the action only) on a bare origin, and the author's clone on a
    pull-request branch promote-m-v2 that promotes m v2 to champion."""
    wf = reg.root / ".github" / "workflows"
    wf.mkdir(parents=True)
    for name in ("registry-validate.yml", "registry-sync.yml"):
        (wf / name).write_text(caller(name))
    git(reg.root, "add", ".github")
    git(reg.root, "commit", "-q", "-m", "CI: the mlreg action")
    reg.register("m", training())
    reg.register("m", training(metrics={"rmse_val": 0.0601}))
    reg.promote("m", "1", "beta", "shadow run looked fine")
    reg.promote("m", "1", "champion", "first champion")
    reg.promote("m", "2", "beta", "candidate")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(reg.root), str(origin))
    work = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    assert cli(work, "promote", "m@2", "champion", "--reason", "beats v1", "--branch", "promote-m-v2").code == 0
    git(work, "push", "-q", "origin", "promote-m-v2")
    git(work, "checkout", "-q", "promote-m-v2")  # the author's next commits go to the pull request
    return work


def open_pull_request(dev: Path, ref: str = "refs/pull/1/merge") -> None:
    """GitHub's merge ref for pull request #1: main with the branch merged (what a PR job checks out)."""
    git(dev, "fetch", "-q", "origin")
    git(dev, "checkout", "-q", "--detach", "origin/main")
    git(dev, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/promote-m-v2")
    git(dev, "push", "-q", "-f", "origin", f"HEAD:{ref}")
    git(dev, "checkout", "-q", "promote-m-v2")


def checkout(tmp_path: Path, dev: Path, ref: str, name: str = "ws") -> Path:
    """What actions/checkout does: a fresh repository, ONE commit of `ref` fetched (depth 1), detached."""
    ws = tmp_path / name
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir()
    origin = git(dev, "remote", "get-url", "origin").strip()
    git(ws, "init", "-q")
    git(ws, "remote", "add", "origin", Path(origin).as_uri())
    git(ws, "fetch", "-q", "--no-tags", "--depth=1", "origin", f"+{ref}:refs/remotes/ci/head")
    git(ws, "checkout", "-q", "--detach", "refs/remotes/ci/head")
    return ws


def github_context(event: str, ws: Path, api: str, payload: dict, **extra: str) -> dict:
    return {
        "event_name": event,
        "event": payload,
        "repository": REPO,
        "api_url": api,
        "server_url": "https://github.com",
        "run_id": "4242",
        "sha": git(ws, "rev-parse", "HEAD").strip(),
        "workspace": str(ws),
        "token": TOKEN,
        **extra,
    }


def runner_env(runner_temp: Path, with_mlreg: bool = False) -> dict:
    """The runner's environment: git and a python3, and (only when asked) the test's own mlreg."""
    tools = runner_temp.parent / "tools"
    tools.mkdir(exist_ok=True)
    if not (tools / "python3").exists():
        (tools / "python3").symlink_to(sys.executable)
    keep = {
        k: v
        for k, v in os.environ.items()
        if k
        in (
            "HOME",
            "GIT_CONFIG_NOSYSTEM",
            "GIT_CONFIG_GLOBAL",
            "LANG",
            "PIP_FIND_LINKS",
            "PIP_DEFAULT_TIMEOUT",
            "PIP_CERT",
        )
    }
    path = [str(tools), "/usr/local/bin", "/usr/bin", "/bin"]
    if with_mlreg:  # the job installed mlreg itself (`install: false`); the test's code, as PYTHONPATH says
        path.insert(0, str(Path(sys.executable).parent))
        keep |= {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    return {
        **keep,
        "PATH": os.pathsep.join(path),
        "RUNNER_TEMP": str(runner_temp),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
    }


def pr_payload(number: int = 1) -> dict:
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {"number": number, "base": {"ref": "main"}, "head": {"ref": "promote-m-v2"}},
    }


def run_pr(tmp_path, dev, github, action_dir, runner_temp, name="ws"):
    open_pull_request(dev)
    ws = checkout(tmp_path, dev, "refs/pull/1/merge", name)
    ctx = github_context("pull_request", ws, github.url, pr_payload(), base_ref="main", head_ref="promote-m-v2")
    return run_workflow(
        ws / ".github/workflows/registry-validate.yml",
        "pull_request",
        ws,
        {ACTION: action_dir},
        ctx,
        runner_env(runner_temp),
        tmp_path / f"jobs-{name}",
    )["review"]


def ours(github: FakeGitHub, number: int = 1) -> list[dict]:
    return [
        c
        for c in github.comments.get(number, [])
        if c["body"].startswith("<!-- mlreg-action:validate:")
        and c["user"] == {"login": "github-actions[bot]", "type": "Bot"}
    ]


# -- the action's definition -----------------------------------------------------------------------
def test_action_inputs_and_outputs_are_documented():
    meta = yaml.safe_load((ROOT / "action.yml").read_text())
    assert meta["runs"]["using"] == "composite"
    for kind in ("inputs", "outputs"):
        assert all(spec.get("description") for spec in meta[kind].values()), kind
    assert {"command", "base", "comment", "github-token", "report-dir", "working-directory", "install"} <= set(
        meta["inputs"]
    )
    assert {"ok", "comment-url", "report-dir", "base"} <= set(meta["outputs"])
    uses = [s["uses"] for s in meta["runs"]["steps"] if "uses" in s]
    assert all(s.get("if") for s in meta["runs"]["steps"] if "uses" in s)  # only when the job lacks them
    assert sorted(u.split("@")[0] for u in uses) == ["actions/checkout", "actions/setup-python"]


CHECKOUT = "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8"  # v5.0.0


def test_callers_are_thin_with_least_permissions():
    """Only the job that comments may write to pull requests, and only on pull_request; push validates the
    default branch only (a pull request's branch is validated once, by its pull_request run)."""
    jobs = {}
    for name in ("registry-validate.yml", "registry-sync.yml"):
        doc = load_workflow(ROOT / ".github" / "workflows" / name)
        assert doc["permissions"] == {"contents": "read"}
        for job_name, job in doc["jobs"].items():
            assert [s.get("uses") for s in job["steps"]] == [CHECKOUT, "./"]
            jobs[job_name] = (job.get("if"), job["permissions"], (job["steps"][1].get("with") or {}).get("command"))
    assert jobs == {
        "review": ("github.event_name == 'pull_request'", {"contents": "read", "pull-requests": "write"}, None),
        "validate": ("github.event_name != 'pull_request'", {"contents": "read"}, None),
        "sync": (None, {"contents": "read"}, "sync"),
    }
    on = load_workflow(ROOT / ".github/workflows/registry-validate.yml")["on"]
    assert set(on) == {"pull_request", "merge_group", "push"} and on["push"] == {"branches": ["main"]}


# -- validate, in a registry repository ------------------------------------------------------------------
def test_a_good_pull_request_validates_and_one_comment_is_kept_up_to_date(
    tmp_path, models_repo, github, action_dir, runner_temp, cli
):
    for n in range(150):  # other people's comments: ours must be found past the first page
        github.add(1, f"looks good {n}")
    first = run_pr(tmp_path, models_repo, github, action_dir, runner_temp)
    assert first.ok, first.log
    assert first.outputs["ok"] == "true" and first.outputs["base"] == "origin/main"
    venv = runner_temp / "mlreg-venv"
    assert first.outputs["mlreg"] == str(venv / "bin" / "mlreg")  # installed from the action's checkout: the core
    assert (
        subprocess.run(
            [
                venv / "bin" / "python",
                "-c",
                "import importlib.util as u, mlreg; "
                f"assert u.find_spec('mlflow') is None; assert mlreg.__file__.startswith({str(venv)!r})",
            ],
            env=runner_env(runner_temp),
        ).returncode
        == 0
    )
    assert "+ git fetch --no-tags --quiet --unshallow origin +refs/heads/main:refs/remotes/origin/main" in first.log
    assert first.summary.startswith(
        "**`mlreg validate --base origin/main`**: ✅ the change is valid\n\n### Registry changes: `origin/main` ("
    )
    assert "- **m v2** promoted `beta` → `champion`: “beats v1”" in first.summary
    assert "- **m v1** demoted `champion` → `archived`: “New champion promoted”" in first.summary
    assert "**`mlreg validate --base origin/main`**: ✅ the change is valid" in first.summary
    [comment] = [dict(c) for c in ours(github)]
    assert (
        comment["body"] == f"<!-- mlreg-action:validate:. -->\n{first.summary.rstrip()}\n\n"
        f"<sub>mlreg at {git(tmp_path / 'ws', 'rev-parse', 'HEAD')[:10]} · "
        f"[run](https://github.com/{REPO}/actions/runs/4242) · this comment is updated on every push</sub>\n"
    )
    assert first.outputs["comment-url"] == comment["html_url"]
    assert github.requests[0] == ("GET", "/user")  # refused for GITHUB_TOKEN: comments are github-actions[bot]'s
    assert [m for m, _ in github.requests] == ["GET", "GET", "GET", "POST"]

    # another push to the pull request: the same comment is updated, no second one
    assert cli(models_repo, "tag", "set", "m@2", "reviewed-by", "risk-team").code == 0
    git(models_repo, "push", "-q", "origin", "promote-m-v2")
    github.requests.clear()
    second = run_pr(tmp_path, models_repo, github, action_dir, runner_temp, "ws2")
    assert second.ok, second.log
    [again] = ours(github)
    assert again["id"] == comment["id"] and again["body"] != comment["body"]
    assert "reviewed-by" in again["body"] and second.outputs["comment-url"] == comment["html_url"]
    assert [m for m, _ in github.requests] == ["GET", "GET", "GET", "PATCH"]
    assert len(github.comments[1]) == 151


def test_a_bad_pull_request_is_refused_with_the_reason_everywhere(
    tmp_path, models_repo, github, action_dir, runner_temp
):
    meta = models_repo / "registry/m/v1/metadata.json"
    doc = json.loads(meta.read_text())
    doc["metrics"]["rmse_val"] = 0.001
    meta.write_text(json.dumps(doc, indent=2))
    git(models_repo, "commit", "-q", "-am", "make v1 look better")
    git(models_repo, "push", "-q", "origin", "promote-m-v2")
    run = run_pr(tmp_path, models_repo, github, action_dir, runner_temp)
    assert not run.ok and run.outputs["ok"] == "false"
    assert "#### Refused by mlreg validate --base (1)" in run.summary
    assert (
        "**`mlreg validate --base origin/main`**: ❌ refused\n\n- `registry/m/v1/metadata.json: "
        "$.metrics.rmse_val: immutable field" in run.summary
    )
    assert (
        "::error file=registry/m/v1/metadata.json,title=mlreg validate::$.metrics.rmse_val: immutable field" in run.log
    )
    [comment] = ours(github)
    assert "❌ refused" in comment["body"] and "$.metrics.rmse_val: immutable field" in comment["body"]


def test_a_read_only_token_keeps_the_summary_and_warns(tmp_path, models_repo, github, action_dir, runner_temp):
    github.read_only = True  # a pull request from a fork
    run = run_pr(tmp_path, models_repo, github, action_dir, runner_temp)
    assert run.ok and run.outputs["comment-url"] == ""
    assert "::warning title=mlreg::could not write the pull-request comment (HTTP 403" in run.log
    assert "✅ the change is valid" in run.summary and ours(github) == []


def test_push_validates(tmp_path, models_repo, github, action_dir, runner_temp):
    ws = checkout(tmp_path, models_repo, "refs/heads/main")
    push = run_workflow(
        ws / ".github/workflows/registry-validate.yml",
        "push",
        ws,
        {ACTION: action_dir},
        github_context("push", ws, github.url, {}),
        runner_env(runner_temp),
        tmp_path / "push",
    )
    assert set(push) == {"validate"}  # the job that may comment does not run on push
    assert push["validate"].ok, push["validate"].log
    assert push["validate"].summary.strip() == "**`mlreg validate`**: ✅ the registry is valid"


def queue_event(base_sha: str, number: int) -> dict:
    """The `merge_group` event payload (checks_requested) GitHub sends for one merge group."""
    return {
        "action": "checks_requested",
        "merge_group": {
            "base_sha": base_sha,
            "base_ref": "refs/heads/main",
            "head_ref": f"refs/heads/gh-readonly-queue/main/pr-{number}",
        },
    }


def test_the_merge_queue_takes_the_first_champion_and_refuses_the_second(
    tmp_path, reg, training, cli, github, action_dir, runner_temp
):
    """Two pull requests each promote a version of m to champion; the merge queue builds group 1 = main + PR 1
    and group 2 = group 1 + PR 2 (pushed as gh-readonly-queue branches), each checked against its parent."""
    wf = reg.root / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "registry-validate.yml").write_text(caller("registry-validate.yml"))
    git(reg.root, "add", ".github")
    git(reg.root, "commit", "-q", "-m", "CI: the mlreg action")
    reg.register("m", training())
    reg.register("m", training(metrics={"rmse_val": 0.0601}))
    reg.promote("m", "1", "beta", "shadow run looked fine")
    reg.promote("m", "2", "beta", "shadow run looked fine")
    git(tmp_path, "clone", "-q", "--bare", str(reg.root), str(tmp_path / "origin.git"))
    dev = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(dev))
    for n in (1, 2):
        assert cli(dev, "promote", f"m@{n}", "champion", "--reason", f"v{n} is best", "--branch", f"pr-{n}").code == 0
    parent = git(dev, "rev-parse", "HEAD").strip()
    git(dev, "checkout", "-q", "--detach")
    parents = []
    for n in (1, 2):
        parents.append(git(dev, "rev-parse", "HEAD").strip())
        git(dev, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{n}", f"pr-{n}")
        git(dev, "push", "-q", "origin", f"HEAD:refs/heads/gh-readonly-queue/main/pr-{n}")
    assert parents[0] == parent

    runs = []
    for n in (1, 2):
        ws = checkout(tmp_path, dev, f"refs/heads/gh-readonly-queue/main/pr-{n}", f"group{n}")
        ctx = github_context("merge_group", ws, github.url, queue_event(parents[n - 1], n))
        runs.append(
            run_workflow(
                ws / ".github/workflows/registry-validate.yml",
                "merge_group",
                ws,
                {ACTION: action_dir},
                ctx,
                runner_env(runner_temp),
                tmp_path / f"q{n}",
            )["validate"]
        )
    first, second = runs
    assert first.ok, first.log
    assert first.outputs["base"] == parents[0] and f"### Registry changes: `{parents[0]}`" in first.summary
    assert "- **m v1** promoted `beta` → `champion`: “v1 is best”" in first.summary
    assert not second.ok and "- **m v2** promoted `beta` → `champion`" in second.summary
    assert "registry/m: stage 'champion' is exclusive but held by v1, v2; expected at most one" in second.summary
    assert github.requests == []  # no pull-request comment from a merge queue


# -- sync and report --------------------------------------------------------------------------------
def test_sync_mirrors_then_checks(tmp_path, models_repo, github, action_dir, runner_temp):
    """`command: sync` with the job's own mlreg (`install: false`): MLflow extra already in the test's venv."""
    ws = checkout(tmp_path, models_repo, "refs/heads/main")
    db = tmp_path / "team-mlflow" / "mlflow.db"
    db.parent.mkdir()
    env = runner_env(runner_temp, with_mlreg=True) | {"MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    run = run_action(
        action_dir,
        ws,
        {"command": "sync", "install": "false"},
        github_context("push", ws, github.url, {}),
        env,
        tmp_path / "sync",
    )
    assert run.ok, run.log
    assert [ln for ln in run.summary.splitlines() if ln.startswith("**")] == [
        "**`mlreg validate`** ✅",
        "**`mlreg sync`** ✅",
        "**`mlreg sync --check`** ✅",
    ]
    assert "MLflow matches git" in run.summary and db.is_file() and not (ws / ".mlreg").exists()


def test_sync_without_a_tracking_uri_fails(tmp_path, models_repo, github, action_dir, runner_temp):
    """No MLFLOW_TRACKING_URI secret (and none in mlreg.yaml): the job fails instead of syncing into a
    throwaway .mlreg/ store on the runner and reporting success."""
    ws = checkout(tmp_path, models_repo, "refs/heads/main")
    run = run_action(
        action_dir,
        ws,
        {"command": "sync", "install": "false"},
        github_context("push", ws, github.url, {}),
        runner_env(runner_temp, with_mlreg=True),
        tmp_path / "sync",
    )
    assert not run.ok and "::error title=mlreg::no MLflow tracking URI" in run.log
    assert "+ mlreg sync" not in run.log and not (ws / ".mlreg").exists()


def test_report_writes_the_site_and_names_the_folder(tmp_path, models_repo, github, action_dir, runner_temp):
    env = runner_env(runner_temp, with_mlreg=True)
    has_report = subprocess.run([sys.executable, "-m", "mlreg", "report", "--help"], capture_output=True, env=env)
    if has_report.returncode != 0:
        pytest.skip("`mlreg report` (issue 15) is not in this checkout yet")
    ws = checkout(tmp_path, models_repo, "refs/heads/main")
    run = run_action(
        action_dir,
        ws,
        {"command": "report", "install": "false", "report-dir": "public", "models": "m"},
        github_context("push", ws, github.url, {}),
        env,
        tmp_path / "report",
    )
    assert run.ok, run.log
    assert run.outputs["report-dir"] == str(ws / "public") and (ws / "public" / "index.html").is_file()
    assert "+ mlreg report -o public --model m" in run.log


def test_an_unknown_command_is_one_error(tmp_path, models_repo, github, action_dir, runner_temp):
    ws = checkout(tmp_path, models_repo, "refs/heads/main")
    run = run_action(
        action_dir,
        ws,
        {"command": "deploy", "install": "false"},
        github_context("push", ws, github.url, {}),
        runner_env(runner_temp, with_mlreg=True),
        tmp_path / "bad",
    )
    assert not run.ok
    assert "::error title=mlreg::input `command` must be one of validate, sync, report, got 'deploy'" in run.log


def test_the_readme_workflows_are_the_callers_here():
    """The workflows the README and the docs tell a registry repository to write are this repository's, `uses:`
    aside (every copy of them, wherever the pages put it)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    blocks = [
        b
        for page in pages
        if page.is_file()
        for b in re.findall(r"```yaml\n(# \.github/workflows/(\S+)\n.*?)```", page.read_text(), re.S)
    ]
    assert {name for _, name in blocks} == {"registry-sync.yml", "registry-validate.yml"}
    for text, name in blocks:
        readme = yaml.safe_load(text)
        here = yaml.safe_load(caller(name).replace(ACTION, "<owner>/mlreg@v0"))
        assert readme == here, name


def test_a_huge_change_is_cut_to_fit_a_comment(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("mlreg_action", ROOT / "action" / "mlreg_action.py")
    action = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(action)
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef")
    body = action.comment_body("\n".join(f"- **m v{n}** registered" for n in range(1, 20001)))
    assert len(body) <= 65_536 and body.startswith("<!-- mlreg-action:validate:. -->\n- **m v1** registered\n")
    assert "\n\n… (cut here: the job summary has the whole change)\n\n<sub>mlreg at 0123456789 · " in body
