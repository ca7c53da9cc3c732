"""The layers hold: import-linter's contracts (.importlinter) pass, and modules stay small."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
MAX_LINES = 480  # "a few hundred lines" (400 in the compact style ruff format replaced): past this, split the module


def test_import_contracts_hold():
    """The layers (indirect imports count), no cycles (function-level and TYPE_CHECKING imports count), only the
    MLflow adapter imports mlflow, the CLI imports only api/render/errors, the core reaches neither git nor boto3."""
    lint = Path(sys.executable).parent / "lint-imports"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    r = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BROKEN" not in r.stdout and " KEPT" in r.stdout


def test_the_contracts_name_only_modules_that_exist():
    """A contract naming a module that moved away would silently check nothing."""
    text = (ROOT / ".importlinter").read_text()
    named = {
        name.strip()
        for line in text.splitlines()
        if line.strip().startswith("mlreg.") and "->" not in line
        for name in line.split("|")
    }  # a layer may name independent siblings: `a | b`
    for name in named:
        rel = Path(*name.removesuffix(".**").split("."))
        assert (ROOT / f"{rel}.py").is_file() or (ROOT / rel / "__init__.py").is_file(), f"{name}: no such module"


def test_the_cli_contract_covers_every_module_of_the_library():
    """A module added later is kept out of the CLI's reach too: cli-face forbids all but the public face."""
    text = (ROOT / ".importlinter").read_text()
    cli_face = text.split("[importlinter:contract:cli-face]")[1].split("[importlinter:")[0]
    forbidden = {line.strip() for line in cli_face.split("forbidden_modules =")[1].splitlines()}
    public = {"api", "render", "errors", "extras", "cli", "__init__", "__main__"}
    modules = {
        p.stem if p.is_file() else p.name
        for p in (ROOT / "mlreg").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").is_file())
    } - public
    assert not {f"mlreg.{m}" for m in modules} - forbidden


def test_modules_stay_small():
    big = {
        str(p.relative_to(ROOT)): n
        for p in sorted((ROOT / "mlreg").rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"
