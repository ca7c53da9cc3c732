"""The Pages workflow: linted by actionlint, a thin caller of the mlreg action, whose report step builds
the site for real in a registry repository (tests/gha.py runs the action as the runner would)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import git, origin_and_clone
from gha import run_action
from test_action import action_dir, github, github_context, runner_env, runner_temp  # noqa: F401  (fixtures)
from test_workflows import WORKFLOWS, linter, load, steps  # noqa: F401  (linter: the fixture)

NAME = "registry-pages.yml"


def test_pages_workflow_lints_clean(linter):
    r = subprocess.run(
        [linter, "-no-color", str(WORKFLOWS / NAME)], cwd=WORKFLOWS.parent.parent, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_pages_workflow_shape():
    doc = load(NAME)
    assert doc["on"]["push"] == {"branches": ["main"]} and "workflow_dispatch" in doc["on"]
    assert doc["permissions"] == {"contents": "read"}  # the build job reads; only deploy may write Pages
    build, deploy = doc["jobs"]["build"], doc["jobs"]["deploy"]
    assert build["permissions"] == {"contents": "read"}
    assert deploy["needs"] == "build" and deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    # pinned by tag (vN) or by commit with the tag in a comment (`@<sha> # vN.M.P`)
    text = (WORKFLOWS / NAME).read_text()
    uses = {m[1]: int(m[2] or m[3]) for m in re.finditer(r"uses: ([\w./-]+)@(?:v(\d+)\S*|[0-9a-f]{40} # v(\d+))", text)}
    assert uses == {
        "actions/checkout": 5,
        "actions/configure-pages": 6,
        "actions/upload-pages-artifact": 5,
        "actions/deploy-pages": 5,
    }
    assert [s.get("uses", "").split("@")[0] for s in build["steps"]] == [
        "actions/checkout",
        "./",
        "actions/configure-pages",
        "actions/upload-pages-artifact",
    ]
    checkout, report, _, upload = build["steps"]
    assert checkout["with"]["fetch-depth"] == 0  # the folder histories need the whole history
    assert report["with"] == {"command": "report", "report-dir": "site"} and not any("run" in s for s in build["steps"])
    assert upload["with"]["path"] == "${{ steps." + report["id"] + ".outputs.report-dir }}"


def test_report_step_builds_the_site_on_a_clone(tmp_path, reg, training, github, action_dir, runner_temp):
    reg.register("m", training())
    reg.promote("m", "1", "beta", "looks fine")
    ci = origin_and_clone(tmp_path, reg.root)
    step = next(s for s in load(NAME)["jobs"]["build"]["steps"] if s.get("uses") == "./")
    # the job's own mlreg (install: false): the action's install step is run by tests/test_action.py
    run = run_action(
        action_dir,
        ci,
        {**step["with"], "install": "false"},
        github_context("push", ci, github.url, {}),
        runner_env(runner_temp, with_mlreg=True),
        tmp_path / "job",
    )
    assert run.ok, run.log
    site = Path(run.outputs["report-dir"])
    assert site == ci / "site" and (site / "index.html").is_file() and (site / "models/m/v1.html").is_file()
    assert git(ci, "status", "--porcelain", "--", "registry") == ""
