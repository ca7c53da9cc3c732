"""Plain helpers shared by every test folder (tests/conftest.py and tests/storekit.py re-export some of them):
git, free ports, a bare origin and its clone, the isolated git config, and worlds built once per module."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

GIT_ENV_CLEARED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "MLFLOW_TRACKING_URI")


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` and return its stdout (a failure shows git's own message)."""
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise subprocess.CalledProcessError(r.returncode, r.args, r.stdout, r.stderr) from AssertionError(
            f"git {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}"
        )
    return r.stdout


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel picks it: two workers never get the same one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def origin_and_clone(tmp_path: Path, repo: Path) -> Path:
    """Publish `repo` as a bare "origin" and return a fresh clone of it (the pull-request set-up)."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    return work


def isolate_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No user or system git config leaks in; commits carry a fixed test identity (HOME is `home`)."""
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in GIT_ENV_CLEARED:
        monkeypatch.delenv(var, raising=False)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
    )


@contextlib.contextmanager
def isolated(base: Path) -> Iterator[Path]:
    """The isolated git config (and a cache of its own) for work done outside a test, e.g. a module-scoped
    build: function-scoped autouse fixtures have not run yet when a module-scoped fixture is built."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_git(mp, base / "home")
        mp.setenv("MLREG_CACHE", str(base / "cache"))
        yield base


def new_repo(root: Path) -> Path:
    """An empty git repository with one unrelated commit (what the `repo_dir` fixture makes)."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    (root / "README.md").write_text("hello\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "initial")
    return root


def compact(root: Path) -> None:
    """Fewer files to copy per test, the same repository: objects packed (as `git gc` would), hook samples gone.
    `root` is a work tree or a bare repository."""
    git(root, "repack", "-adq")
    git(root, "prune-packed")
    hooks = root / ".git" / "hooks" if (root / ".git").is_dir() else root / "hooks"
    for sample in hooks.glob("*.sample"):
        sample.unlink()


def git_repos(folder: Path) -> list[Path]:
    """The git repositories (work trees and bare ones) directly in `folder`."""
    return [p for p in sorted(folder.iterdir()) if (p / ".git").is_dir() or (p / "HEAD").is_file()]


def copy_built(src: Path, dst: Path) -> None:
    """Copy everything a build made in `src` into `dst` (made if missing): git repositories copy whole (objects,
    refs, index, the index refreshed for the copied files). A clone's remote that named a repository in `src`
    names its copy in `dst`, so a test's pushes and fetches stay in its own copy."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, dst / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, dst / entry.name, follow_symlinks=False)
    for repo in git_repos(dst):
        work_tree = (repo / ".git").is_dir()
        config = repo / ".git" / "config" if work_tree else repo / "config"
        text = config.read_text()
        if str(src) in text:
            config.write_text(text.replace(f"{src}/", f"{dst}/"))
        if work_tree:  # the index's stat data named the template's files: without this, git takes the copies
            git(repo, "update-index", "-q", "--refresh")  # for changed files (sparse-checkout would keep them)


@dataclass(frozen=True)
class Template:
    """A world built once: its folder (the registry at `repo/`, the training folders at `models/`, anything else
    the build made), and where the clock and the training counter stood."""

    folder: Path
    now: dt.datetime
    trained: int


def world(build: Callable) -> Callable:
    """Decorate a build `def name(reg, training)` to make fixture `name`: each test gets its own copy of the
    registry the build filled once per module (per xdist worker), a `Registry` like the one `reg` gives.

    The copy is what the `reg` fixture plus `build` would have made in this test: the repository at
    `tmp_path/repo` (git repositories copy whole: objects, refs, index), the training folders at
    `tmp_path/models`, the test's `training` counting on and its `clock` going on from where the build left
    them. Anything else the build made beside the repository (`reg.root.parent / ...`: a bare origin and a
    clone, say) is copied beside it too, a clone's remote pointing at the copied origin. Tests may change their
    copy freely; no test sees another's changes."""
    from conftest import Clock, Training

    built: dict[str, Template] = {}

    @pytest.fixture(name=build.__name__)
    def fixture(request, tmp_path_factory, tmp_path: Path, training: Training, clock: Clock):
        from mlreg.api import Registry

        key = request.module.__name__
        if key not in built:
            base = tmp_path_factory.mktemp(f"world-{build.__name__}")
            with isolated(tmp_path_factory.mktemp(f"env-{build.__name__}")):
                template_clock = Clock()
                reg = Registry(new_repo(base / "repo"), clock=template_clock)
                reg.init()
                template_training = Training(base / "models")
                build(reg, template_training)
                for repo in git_repos(base):
                    compact(repo)
            built[key] = Template(base, template_clock.now, template_training.count)
        t = built[key]
        copy_built(t.folder, tmp_path)
        training.count = t.trained
        clock.now = t.now
        return Registry(tmp_path / "repo", clock=clock)

    return fixture


def copied(folder: str = "repo") -> Callable:
    """Decorate a build `def name(root: Path)` that makes a git repository at `root` to make fixture `name`:
    the build runs once per module (isolated git config, objects packed), each test gets its own copy at
    `tmp_path/<folder>`."""

    def decorate(build: Callable) -> Callable:
        built: dict[str, Path] = {}

        @pytest.fixture(name=build.__name__)
        def fixture(request, tmp_path_factory, tmp_path: Path) -> Path:
            key = request.module.__name__
            if key not in built:
                base = tmp_path_factory.mktemp(f"built-{build.__name__}")
                with isolated(base):
                    build(base / folder)
                    compact(base / folder)
                built[key] = base / folder
            shutil.copytree(built[key], tmp_path / folder, symlinks=True)
            return tmp_path / folder

        return fixture

    return decorate
