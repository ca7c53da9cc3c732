"""The documentation runs as written: every ```bash block of the README's quick start and of the tutorials, in
order, in a throwaway folder with isolated git config, a bare origin standing in for GitHub and the embedded
MLflow store; and the site lists every command of the CLI.

A block that cannot run here (it needs GitHub, a cloud account, a server) is marked by an HTML comment
`<!-- not-run -->` on the line before its fence; keep those few. Text the reader must replace with their own
(the GitHub URL of their registry repository) is swapped for the bare origin, listed in SUBSTITUTE.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import git

pytestmark = pytest.mark.slow  # every tutorial's bash blocks, run

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<mark><!-- not-run -->\n)?```bash\n(?P<body>.*?)^```$", re.M | re.S)
SUBSTITUTE = {"git@github.com:<your-org>/ml-registry.git": "{origin}"}
TUTORIALS = ("start-a-registry.md", "promote-by-pull-request.md", "object-storage.md", "move-in.md")
ELSEWHERE = {"team-mlflow.md"}  # needs the team stack (scripts/team-stack): its test lives in tests/sync/team


def bash_blocks(text: str) -> tuple[list[str], int]:
    """The runnable ```bash blocks of a page, in order, and how many are marked not-run."""
    text = re.sub(r"<!-- not-run -->\n+", "<!-- not-run -->\n", text)
    found = list(FENCE.finditer(text))
    return [m["body"] for m in found if not m["mark"]], sum(1 for m in found if m["mark"])


def quick_start() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]


def run_blocks(blocks: list[str], where: Path, origin: Path) -> subprocess.CompletedProcess:
    """Run the blocks as one bash script (state such as `cd` carries over, as in a terminal); fail loudly."""
    script = "set -euo pipefail\n" + "\n".join(blocks)
    for placeholder, value in SUBSTITUTE.items():
        script = script.replace(placeholder, value.format(origin=origin))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_", "GIT_DIR", "GIT_WORK"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # this venv's mlreg and python
    env["MLREG_CACHE"] = str(where / ".cache-mlreg")
    r = subprocess.run(["bash", "-c", script], cwd=where, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\n--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}"
    return r


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, Path]:
    """A working folder for the reader and an empty bare repository standing in for GitHub."""
    origin = tmp_path / "github" / "ml-registry.git"
    origin.parent.mkdir()
    git(origin.parent, "init", "-q", "--bare", str(origin))
    work = tmp_path / "work"
    work.mkdir()
    return work, origin


def show(repo: Path, ref: str, path: str) -> dict:
    return json.loads(git(repo, "show", f"{ref}:{path}"))


def registered_versions(tracking_uri: str, name: str) -> list[str]:
    from mlflow import MlflowClient

    return sorted(str(v.version) for v in MlflowClient(tracking_uri).search_model_versions(f"name = '{name}'"))


def test_markers_are_few_and_blocks_exist():
    assert {p.name for p in (DOCS / "tutorials").glob("*.md")} - ELSEWHERE == set(TUTORIALS)  # none left untested
    pages = [quick_start()] + [(DOCS / "tutorials" / name).read_text() for name in TUTORIALS]
    for page in pages:
        runnable, skipped = bash_blocks(page)
        assert runnable and skipped <= 3


def test_readme_quick_start_runs_as_written(place):
    work, origin = place
    runnable, skipped = bash_blocks(quick_start())
    assert skipped == 1  # gh pr create: needs GitHub
    run_blocks(runnable, work, origin)
    repo = work / "ml-registry"
    # the sample training folder the README writes is the one mlreg ships
    for name in ("run_metadata.json", "model.txt", "features.txt"):
        assert (work / "training-run" / name).read_bytes() == (ROOT / "examples" / "training-run" / name).read_bytes()
    record = show(repo, "main", "registry/demand-forecast/v1/metadata.json")
    assert record["stage"] == "development" and record["metrics"]["rmse_val"] == 0.0669
    assert git(repo, "status", "--porcelain") == ""  # every step committed, nothing left over
    assert show(origin, "promote-v1", "registry/demand-forecast/v1/metadata.json")["stage"] == "beta"
    assert git(origin, "rev-parse", "main") == git(repo, "rev-parse", "main")
    written = yaml.safe_load((repo / ".github" / "workflows" / "registry-validate.yml").read_text())
    ours = (ROOT / ".github" / "workflows" / "registry-validate.yml").read_text()
    assert written == yaml.safe_load(ours.replace("uses: ./\n", "uses: <owner>/mlreg@v0\n"))
    assert registered_versions(f"sqlite:///{repo / '.mlreg' / 'mlflow.db'}", "demand-forecast") == ["1"]


def test_tutorial_start_a_registry(place):
    work, origin = place
    run_blocks(bash_blocks((DOCS / "tutorials" / "start-a-registry.md").read_text())[0], work, origin)
    repo = work / "ml-registry"
    v1 = show(repo, "HEAD", "registry/demand-forecast/v1/metadata.json")
    v2 = show(repo, "HEAD", "registry/demand-forecast/v2/metadata.json")
    assert (v1["stage"], v2["stage"]) == ("archived", "champion")
    assert v2["metrics"]["rmse_val"] == 0.0642 and v2["params"]["learning_rate"] == "0.02"
    assert "Staging: 2" in git(repo, "show", "HEAD:registry/demand-forecast/model.yaml").replace("'", "")
    assert git(repo, "status", "--porcelain") == ""
    assert registered_versions(f"sqlite:///{repo / '.mlreg' / 'mlflow.db'}", "demand-forecast") == ["1", "2"]


def test_tutorial_promote_by_pull_request(place):
    work, origin = place
    run_blocks(bash_blocks((DOCS / "tutorials" / "promote-by-pull-request.md").read_text())[0], work, origin)
    record = show(origin, "main", "registry/demand-forecast/v1/metadata.json")
    assert record["stage"] == "beta" and record["stage_history"][-1]["reason"].startswith("Beat the baseline")
    assert (origin / "refs" / "heads" / "tweak-metric").exists() or "tweak-metric" in git(origin, "branch")
    assert show(origin, "tweak-metric", "registry/demand-forecast/v1/metadata.json")["metrics"]["rmse_val"] == 0.05


def test_tutorial_object_storage(place):
    work, origin = place
    run_blocks(bash_blocks((DOCS / "tutorials" / "object-storage.md").read_text())[0], work, origin)
    repo = work / "ml-registry"
    files = git(repo, "ls-tree", "-r", "--name-only", "HEAD", "registry/big-model/v1").split()
    assert files == ["registry/big-model/v1/metadata.json"]  # git keeps the record only
    stored = sorted(p.relative_to(work / "model-store") for p in (work / "model-store").rglob("*") if p.is_file())
    # <store>/_mlreg/<registry id>/<model>/v<N>-<random>/<path>: a folder of its own per upload
    assert [(p.parts[0], p.parts[2], p.parts[3].split("-")[0], "/".join(p.parts[4:])) for p in stored] == [
        ("_mlreg", "big-model", "v1", "model.bin"),
        ("_mlreg", "big-model", "v1", "run_metadata.json"),
    ]
    assert (work / "model" / "model.bin").read_bytes() == (work / "big-run" / "model.bin").read_bytes()


def test_tutorial_move_in(place):
    work, origin = place
    run_blocks(bash_blocks((DOCS / "tutorials" / "move-in.md").read_text())[0], work, origin)
    repo = work / "ml-registry"
    imported = show(repo, "HEAD", "registry/churn/v2/metadata.json")
    assert imported["stage"] == "champion" and imported["run"]["mlflow_run_id"]
    legacy = show(repo, "HEAD", "registry/ppo_stocktrading/v2/metadata.json")
    assert legacy["params"]["legacy_version"] == "0.2.0"
    assert git(repo, "status", "--porcelain") == ""


def test_every_command_is_in_the_built_site(tmp_path):
    """The CLI reference is generated from the Typer app: each command's usage line is on the built page."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocs_typer2")
    import click
    import typer

    from mlreg.cli import app

    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    page = (site / "reference" / "cli" / "index.html").read_text()

    def paths(command: click.Command, prefix: str):
        yield prefix
        for name, sub in getattr(command, "commands", {}).items():
            if not sub.hidden:
                yield from paths(sub, f"{prefix} {name}")

    commands = list(paths(typer.main.get_command(app), "mlreg"))
    assert len(commands) > 20
    missing = [c for c in commands if f"{c} [OPTIONS]" not in page and f"{c} [ARGS]" not in page]
    assert not missing, missing


# -- the README's set-up commands, the release and the site workflows --------------------------------------
README_COMMANDS = (
    "pip install -e '.[mlflow,test]' && mlreg validate && mlreg sync && mlreg sync --check",
    "python -m pytest -q",
)


def test_readme_development_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    development = readme.split("\n## Development", 1)[1]
    blocks = [b.strip() for b in re.findall(r"^ *```bash\n *(.*?)\n *```$", development, re.M | re.S)]
    assert tuple(blocks) == README_COMMANDS
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert all(command in ci for command in README_COMMANDS)
    assert "mkdocs build --strict" in (ROOT / ".ci" / "run").read_text()
    assert len(readme.splitlines()) <= 250
    assert "$RUN2" not in readme and "/data/models" not in readme


def test_one_install_placeholder():
    """Until the first release: one way to install, from one placeholder repository, at the released tag."""
    pages = [ROOT / "README.md", *DOCS.rglob("*.md")]
    text = "\n".join(p.read_text() for p in pages)
    assert 'pip install "mlreg[mlflow] @ git+https://github.com/<owner>/mlreg@v0.1.0"' in text
    owners = set(re.findall(r"github\.com[:/]([^/\s]+)/mlreg", text)) | set(re.findall(r"([^\s`'\"/]+)/mlreg@v0", text))
    assert owners == {"<owner>"}, owners
    from mlreg import __version__

    assert f"## [{__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def workflow(name: str) -> dict:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def test_release_and_docs_workflows_pin_actions_by_commit():
    for name in ("release.yml", "docs.yml"):
        text = (ROOT / ".github" / "workflows" / name).read_text()
        uses = re.findall(r"^\s+(?:- )?uses: (\S+)(.*)", text, re.M)
        assert uses
        for action, comment in uses:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
            assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), (action, comment)


def test_release_workflow_publishes_by_trusted_publishing():
    doc = workflow("release.yml")
    assert doc["on"] == {"push": {"tags": ["v*"]}} and doc["permissions"] == {}
    jobs = doc["jobs"]
    build = "\n".join(s.get("run", "") for s in jobs["build"]["steps"])
    assert "python -m build" in build and "twine check" in build and "mlreg/__init__.py" in build
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}
    assert jobs["pypi"]["steps"][-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert "with" not in jobs["pypi"]["steps"][-1]  # no password: trusted publishing
    release = "\n".join(s.get("run", "") for s in jobs["github-release"]["steps"])
    assert jobs["github-release"]["permissions"] == {"contents": "write"}
    assert 'gh release create "$TAG" dist/*' in release and 'git push --force origin "refs/tags/$major"' in release


def test_release_notes_come_from_the_changelog(tmp_path):
    """The awk line of the release job picks the tag's CHANGELOG section, without the link definitions."""
    [run] = [s["run"] for s in workflow("release.yml")["jobs"]["github-release"]["steps"] if "awk" in s.get("run", "")]
    [awk] = [line.strip() for line in run.splitlines() if line.strip().startswith("awk")]
    from mlreg import __version__

    shutil.copy(ROOT / "CHANGELOG.md", tmp_path / "CHANGELOG.md")
    r = subprocess.run(
        ["bash", "-c", f"version={__version__}\n{awk}\ncat notes.md"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "### Added" in r.stdout and "## [" not in r.stdout and "]: https://" not in r.stdout
