import subprocess
import sys

import typer.main

from mlreg.cli import app


def walk(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from walk(sub, (*path, name))


def test_every_command_and_option_has_help_text():
    missing = []
    for path, cmd in walk(typer.main.get_command(app)):
        if not (cmd.help or "").strip():
            missing.append(" ".join(path) or "mlreg")
        for p in cmd.params:
            if (
                p.name not in ("help",)
                and not getattr(p, "hidden", False)
                and not (getattr(p, "help", "") or "").strip()
            ):
                missing.append(f"{' '.join(path)} {p.name}")
    assert missing == []


def test_help_and_read_commands_never_import_mlflow(reg):
    repo_dir = reg.root
    code = "import sys\nfrom mlreg.cli import main\nmain(sys.argv[1:])\nassert 'mlflow' not in sys.modules, sys.argv\n"
    for args in (["--help"], ["list"], ["validate"], ["list", "--versions", "--json"]):
        r = subprocess.run([sys.executable, "-c", code, *args], cwd=repo_dir, capture_output=True, text=True)
        assert r.returncode == 0 and "AssertionError" not in r.stderr, (args, r.stderr)


def test_python_dash_m_entry_point(repo_dir):
    r = subprocess.run([sys.executable, "-m", "mlreg", "--help"], cwd=repo_dir, capture_output=True, text=True)
    assert r.returncode == 0 and "register" in r.stdout


def test_unexpected_errors_have_no_traceback_unless_asked(reg, cli, monkeypatch):
    from mlreg import api

    monkeypatch.setattr(api.Registry, "models", lambda self: 1 / 0)
    r = cli(reg.root, "list")
    assert r.code == 1 and r.err.startswith("Error: unexpected ZeroDivisionError") and "Traceback" not in r.err


def test_version_flag(repo_dir, cli):
    from mlreg import __version__

    r = cli(repo_dir, "--version")
    assert r.code == 0 and r.out.strip() == f"mlreg {__version__}"


def test_validate_outside_a_registry_says_so(repo_dir, cli):
    r = cli(repo_dir, "validate")
    assert r.code == 1 and "no registry here" in r.err and "mlreg init" in r.err
