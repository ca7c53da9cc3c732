"""A small stand-in for the GitHub Actions runner, enough to run mlreg's composite action for real.

It runs the `run:` steps of `action.yml` with bash as the runner does (`bash --noprofile --norc -eo pipefail`),
with the variables and files Actions sets for each step (GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STEP_SUMMARY,
GITHUB_EVENT_PATH, GITHUB_ACTION_PATH, RUNNER_TEMP, ...), expands the `${{ }}` expressions the action uses,
and refuses to pretend: a `uses:` step whose condition holds (setup-python, checkout) fails the run.
Workflows are run the same way: `actions/checkout` must already be done (the test prepares the checkout),
and a step that uses mlreg's action runs it from a local path.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class Context:
    github: dict[str, str]
    inputs: dict[str, str] = field(default_factory=dict)
    steps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def value(self, expr: str) -> Any:
        """The few expression forms mlreg's action and workflows use: a || b, a == 'x', a != 'x', dotted names."""
        expr = expr.strip()
        if "||" in expr:
            return next((v for v in (self.value(p) for p in expr.split("||")) if v), "")
        for op in ("==", "!="):
            if op in expr:
                left, right = (self.value(p) for p in expr.split(op, 1))
                return (left == right) == (op == "==")
        if expr[:1] == "'" and expr[-1:] == "'":
            return expr[1:-1]
        head, _, rest = expr.partition(".")
        if head == "steps":
            step, _, output = rest.partition(".outputs.")
            return self.steps.get(step, {}).get(output, "")
        if head in ("inputs", "github", "secrets"):
            return getattr(self, head).get(rest, "")
        raise AssertionError(f"expression not understood by the test runner: {expr!r}")

    def expand(self, text: Any) -> str:
        return EXPR.sub(lambda m: str(self.value(m.group(1))), str(text))

    def holds(self, condition: str | None) -> bool:
        return True if condition is None else bool(self.value(EXPR.sub(r"\1", condition)))


@dataclass
class Run:
    ok: bool
    outputs: dict[str, str]
    summary: str
    log: str


def read_key_values(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's format: `k=v` lines and `k<<DELIM` ... `DELIM` blocks."""
    out: dict[str, str] = {}
    lines = iter(path.read_text().splitlines() if path.exists() else [])
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            out[key] = "\n".join(iter(lambda: next(lines), delim))
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


def run_action(
    action_dir: Path, workspace: Path, with_: dict[str, str], github: dict[str, str], env: dict[str, str], temp: Path
) -> Run:
    """Run the composite action in `action_dir` as one step of a job whose checkout is `workspace`."""
    meta = yaml.safe_load((action_dir / "action.yml").read_text())
    assert meta["runs"]["using"] == "composite"
    unknown = set(with_) - set(meta["inputs"])
    assert not unknown, f"inputs the action does not define: {unknown}"
    ctx = Context(github)
    ctx.inputs = {k: ctx.expand(with_.get(k, spec.get("default", ""))) for k, spec in meta["inputs"].items()}
    temp.mkdir(parents=True, exist_ok=True)
    runner_temp = Path(env.get("RUNNER_TEMP") or temp / "runner")  # shared by the tests: the venv is reused
    runner_temp.mkdir(parents=True, exist_ok=True)
    event = temp / "event.json"
    path = env["PATH"]
    summary, log = [], []
    for i, step in enumerate(meta["runs"]["steps"]):
        if not ctx.holds(step.get("if")):
            continue
        assert "uses" not in step, f"step {step.get('name')!r} would run {step['uses']} here: not emulated"
        files = {
            name: temp / f"step{i}-{name.lower()}" for name in ("GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")
        }
        for f in files.values():
            f.write_text("")
        step_env = {
            **env,
            "PATH": path,
            "GITHUB_ACTION_PATH": str(action_dir),
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_EVENT_PATH": str(event),
            **{f"GITHUB_{k.upper()}": v for k, v in github.items() if k not in ("token", "event")},
            **{k: str(v) for k, v in files.items()},
            **{k: ctx.expand(v) for k, v in (step.get("env") or {}).items()},
        }
        event.write_text(json.dumps(github.get("event") or {}))
        cwd = workspace / ctx.expand(step.get("working-directory", "."))
        r = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", ctx.expand(step["run"])],
            cwd=cwd,
            env=step_env,
            capture_output=True,
            text=True,
        )
        log.append(r.stdout + r.stderr)
        if step.get("id"):
            ctx.steps[step["id"]] = read_key_values(files["GITHUB_OUTPUT"])
        added = [p for p in files["GITHUB_PATH"].read_text().splitlines() if p]
        path = ":".join([*reversed(added), path])
        summary.append(files["GITHUB_STEP_SUMMARY"].read_text())
        if r.returncode != 0:
            break
    else:
        r = None
    outputs = {k: ctx.expand(spec["value"]) for k, spec in (meta.get("outputs") or {}).items()}
    return Run(r is None or r.returncode == 0, outputs, "".join(summary), "".join(log))


def load_workflow(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def run_workflow(
    path: Path,
    event: str,
    workspace: Path,
    actions: dict[str, Path],
    github: dict[str, str],
    env: dict[str, str],
    temp: Path,
) -> dict[str, Run]:
    """Run each job of a workflow triggered by `event`: its checkout is `workspace` (already done), and every
    other step must be one of `actions` (uses -> local folder). Returns job -> the last action's Run."""
    doc = load_workflow(path)
    assert event in doc["on"], f"{path.name} does not run on {event}"
    results = {}
    for name, job in doc["jobs"].items():
        ctx = Context({**github, "event_name": event})
        if not ctx.holds(job.get("if")):  # a job for another event (the runner skips it)
            continue
        job_env = {**env, **{k: ctx.expand(v) for k, v in (job.get("env") or {}).items()}}
        for step in job["steps"]:
            uses = step.get("uses", "")
            assert "run" not in step, f"{path.name}: a thin caller has no run: steps ({step['run']!r})"
            if uses.startswith("actions/checkout@"):
                continue
            with_ = {k: str(v) for k, v in (step.get("with") or {}).items()}
            results[name] = run_action(
                actions[uses], workspace, with_, {**github, "event_name": event}, job_env, temp / name
            )
            if not results[name].ok:
                break
    return results
