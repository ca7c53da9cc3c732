"""The CLI builds only the command it runs (mlreg/cli/lazy.py): its table of commands says exactly what the whole
Typer app says, and a read imports neither the other commands' modules nor the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlreg.cli import app, lazy

# what typer makes of the whole app without the lazy group: every command module imported, every command built
REFERENCE = """
import sys, typer.core
import mlreg.cli
mlreg.cli.app.info.cls = typer.core.TyperGroup
if sys.argv[1:2] == ["complete"]:
    group = typer.main.get_command(mlreg.cli.app)
    ctx = group.make_context("mlreg", [], resilient_parsing=True)
    print([(c.value, c.help) for c in group.shell_complete(ctx, sys.argv[2])])
else:
    mlreg.cli.app(sys.argv[1:], prog_name="mlreg")
"""
# the lazy one, as `mlreg` runs it
LAZY = """
import sys
from mlreg.cli import main
if sys.argv[1:2] == ["complete"]:
    import typer.main
    from mlreg.cli import common
    group = typer.main.get_command(common.app)
    ctx = group.make_context("mlreg", [], resilient_parsing=True)
    print([(c.value, c.help) for c in group.shell_complete(ctx, sys.argv[2])])
    assert not [m for m in sys.modules if m.startswith("mlreg.cli.") and m[10:] not in ("common", "lazy")]
else:
    sys.exit(main(sys.argv[1:]))
"""


def run(code: str, *args: str, cwd=None, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.parametrize(
    ("args", "columns"),
    [
        *((["--help"], c) for c in (50, 80, 200)),
        ([], 80),
        (["shw"], 80),
        (["fnd", "best"], 80),
        (["find", "--help"], 80),
        (["alias"], 80),
        (["--version"], 80),
        (["complete", "s"], 80),
    ],
    ids=str,
)
def test_the_lazy_cli_says_what_the_whole_app_says(tmp_path, args, columns):
    """Help (the command list, its order and each one-line help at any width), typo suggestions and completion
    are what the fully built app gives: the table in lazy.py cannot drift from the commands."""
    want, got = run(REFERENCE, *args, cwd=tmp_path, columns=columns), run(LAZY, *args, cwd=tmp_path, columns=columns)
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
    assert want.stdout or want.stderr


def test_the_table_names_each_command_module_in_registration_order():
    """Each top-level command, in the order typer registered it, is in the table with the module defining it."""
    commands = [(info.name or info.callback.__name__, info.callback.__module__) for info in app.registered_commands]
    groups = [(g.name, g.typer_instance.registered_commands[0].callback.__module__) for g in app.registered_groups]
    registered = commands + groups
    assert [(name, f"mlreg.cli.{module}") for name, (module, _) in lazy.COMMANDS.items()] == registered


@pytest.fixture
def one_version(reg, cli, training):
    assert cli(reg.root, "register", "m", "--from-dir", str(training())).code == 0
    return reg.root


CHECK = """
import io, json, sys
from mlreg.cli import main
sys.stdout = io.StringIO()
code = main(sys.argv[1:])
heavy = {"mlflow", "boto3", "botocore", "jsonschema", "git", "rich", "pydantic"}
print(json.dumps({
    "code": code,
    "heavy": sorted({m.split(".")[0] for m in sys.modules} & heavy),
    "cli": sorted(m[10:] for m in sys.modules if m.startswith("mlreg.cli.")),
}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "module", "table"),
    [
        (["--help"], None, False),
        (["show", "m", "--json"], "core", False),
        (["show", "m@latest", "--json"], "core", False),
        (["resolve", "m@latest"], "query", False),
        (["resolve", "models:/m/1", "--json"], "query", False),
        (["list", "--json"], "core", False),
        (["search", "metrics.rmse_val < 1", "--json"], "query", False),
        (["find", "best", "--metric", "rmse_val", "--json"], "query", False),
        (["show", "m"], "core", True),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else None,
)
def test_a_read_imports_only_its_own_command(one_version, args, module, table):
    """`--help` imports no command module; a read imports its own module only, and neither MLflow, boto3,
    jsonschema nor gitpython; Rich only to draw a table."""
    r = run(CHECK, *args, cwd=one_version)
    found = json.loads(r.stderr.strip().splitlines()[-1])
    assert found["code"] == 0, r.stderr
    assert found["cli"] == sorted(["common", "lazy", *([module] if module else [])])
    assert found["heavy"] == (["rich"] if table else [])


def test_show_and_resolve_read_only_their_model(one_version, cli, training):
    """Flat in registry size: with every other model's files unreadable garbage, the answers are the same."""
    assert cli(one_version, "register", "other", "--from-dir", str(training())).code == 0
    asks = [("show", "m", "--json"), ("show", "m@latest", "--json"), ("resolve", "m@latest", "--json")]
    before = [cli(one_version, *ask) for ask in asks]
    for path in (one_version / "registry" / "other").rglob("*"):
        if path.is_file():
            path.write_text("{not: [yaml or json")
    after = [cli(one_version, *ask) for ask in asks]
    assert [(r.code, r.out) for r in after] == [(r.code, r.out) for r in before]
    assert all(r.code == 0 and r.out for r in after)
    assert cli(one_version, "show", "other", "--json").code == 1  # (the garbage is read when asked for)
