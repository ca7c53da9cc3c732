"""Install benchmark: a fresh virtualenv with the light core (`pip install mlreg`, from the built wheel) against
the full install (`mlreg[mlflow]`, what every CI job installed before the core was split off), and the validate
job's wall time (install + `mlreg validate --base` on the example registry), on this machine, warm pip cache.

Targets (issue 12): the core installs in under 15 s and takes under 100 MB (the whole virtualenv, pip included).
Run: python benchmarks/bench_install.py [--runs N]   (exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS, TARGET_MB = 15.0, 100.0
IGNORE = ("build", "dist", "*.egg-info", "__pycache__", ".mlreg", ".venv", "test-artifacts", ".pytest_cache", ".git")


def build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*IGNORE))
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp / "dist"), str(src)],
        check=True,
        capture_output=True,
    )
    return next((tmp / "dist").glob("*.whl"))


def size_mb(folder: Path) -> float:
    return sum(f.lstat().st_size for f in folder.rglob("*") if f.is_file() or f.is_symlink()) / 1e6


def install(tmp: Path, spec: str) -> tuple[float, Path]:
    """Seconds for `python -m venv` + `pip install SPEC` into a fresh virtualenv (the job's install step)."""
    venv = tmp / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", spec],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start, venv


def validate_base(venv: Path, base: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(venv / "bin" / "mlreg"), "validate", "--base", base], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    # the base of the last change to the example registry: a real pull request's worth of validation
    last = subprocess.run(
        ["git", "log", "-n1", "--format=%H", "--", "registry"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    base = f"{last}~1"
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="mlreg-bench-install-") as t:
        tmp = Path(t)
        wheel = build_wheel(tmp)
        for label, spec in (
            ("core: pip install mlreg", str(wheel)),
            ("full: pip install 'mlreg[mlflow]'", f"{wheel}[mlflow]"),
        ):
            install(tmp, spec)  # warm the pip cache (and the wheel cache of anything built from source)
            seconds, jobs = [], []
            for _ in range(runs):
                took, venv = install(tmp, spec)
                check = validate_base(venv, base)
                seconds.append(took)
                jobs.append(took + check)
            mb = size_mb(venv)
            has_mlflow = (venv / "bin" / "mlflow").exists()
            rows.append((label, statistics.median(seconds), mb, statistics.median(jobs), has_mlflow))
    print(f"install into a fresh virtualenv, warm pip cache, median of {runs} (validate --base {last[:10]}~1)")
    print(f"{'install':<36} {'install s':>9} {'venv MB':>8} {'job s':>7}  mlflow  result")
    for label, secs, mb, job, has_mlflow in rows:
        core = label.startswith("core")
        good = (secs < TARGET_SECONDS and mb < TARGET_MB and not has_mlflow) if core else True
        ok &= good
        result = ("PASS" if good else "FAIL") + f" (< {TARGET_SECONDS:.0f} s, < {TARGET_MB:.0f} MB)" if core else ""
        print(f"{label:<36} {secs:>9.1f} {mb:>8.0f} {job:>7.1f}  {'yes' if has_mlflow else 'no':<6}  {result}")
    core_job, full_job = rows[0][3], rows[1][3]
    print(
        f"validate job (install + validate --base): {core_job:.1f} s core vs {full_job:.1f} s full "
        f"({full_job / core_job:.1f}x faster)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
