"""The Pages workflow: linted by actionlint, and its report step run for real on a clone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import git, origin_and_clone
from test_workflows import WORKFLOWS, linter, load, steps  # noqa: F401  (linter: the fixture)

NAME = "registry-pages.yml"


def test_pages_workflow_lints_clean(linter):  # noqa: F811
    r = subprocess.run([linter, "-no-color", str(WORKFLOWS / NAME)], cwd=WORKFLOWS.parent.parent,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_pages_workflow_shape():
    doc = load(NAME)
    assert doc["on"]["push"] == {"branches": ["main"]} and "workflow_dispatch" in doc["on"]
    assert doc["permissions"] == {"contents": "read"}  # the build job reads; only deploy may write Pages
    build, deploy = doc["jobs"]["build"], doc["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    uses = {s["uses"].split("@")[0]: int(re.match(r"v(\d+)", s["uses"].split("@")[1]).group(1))
            for s in steps(NAME) if "uses" in s}
    assert uses == {"actions/checkout": 5, "actions/setup-python": 6, "actions/configure-pages": 6,
                    "actions/upload-pages-artifact": 5, "actions/deploy-pages": 5}
    checkout = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the folder histories need the whole history
    report = next(s for s in build["steps"] if s.get("run", "").startswith("mlreg report"))
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert report["run"] == f"mlreg report -o {upload['with']['path']}"


def test_report_step_builds_the_site_on_a_clone(tmp_path, reg, training):
    reg.register("m", training())
    reg.promote("m", "1", "beta", "looks fine")
    ci = origin_and_clone(tmp_path, reg.root)
    report = next(s for s in steps(NAME) if s.get("run", "").startswith("mlreg report"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(["bash", "-e", "-c", report["run"]], cwd=ci, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (ci / "site/index.html").is_file() and (ci / "site/models/m/v1.html").is_file()
    assert git(ci, "status", "--porcelain", "--", "registry") == ""
