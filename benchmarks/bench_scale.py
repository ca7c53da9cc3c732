"""Scale benchmark (issue 24): every read target on 10,000 and on 100,000 versions, beside python's own start-up.

Two registries are generated as bench_reads.py generates them (real digests, one commit): 1,000 models x 10
versions and 5,000 x 20. Each command is timed as a whole `python -m mlreg ...` process, median of --runs runs
after one warm-up run, wall and CPU (user + sys of the process and its children: what the command costs
whatever else shares the machine); `first` is one run with no catalog yet (the cost of building it, paid
once per clone and again after a change only for what changed). Targets, median wall seconds:

  command                                   100,000   10,000
  list --json                                  1.0      0.3
  show NAME --json, resolve NAME@latest        0.3      0.3   (flat in registry size)
  search EXPR --max-results 20                 1.0      0.3
  find best --metric M                         1.0      0.3
  validate (whole registry)                   15        -
  validate --base main (one promote)           0.5      0.5   (the work tree: git scans every file of it)
  validate --base main --head pr               0.5      0.5   (refs, as CI runs it)
  report -m NAME                               2        2

Run: python benchmarks/bench_scale.py [--runs 3] [--keep DIR] [--only 10k|100k]
The machine's load average is printed with the figures: they mean little on a busy machine.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_reads import NAME, generate

SIZES = {"10k": (1000, 10), "100k": (5000, 20)}
SEARCH = "metrics.rmse_val < 0.05 and params.timeframe = '1H' and stage != 'archived'"
ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def cases(models: int) -> list[tuple[str, list[str], dict[str, float]]]:
    """(label, mlreg arguments, target seconds by size)."""
    mid = NAME.format(models // 2)
    return [
        ("list --json", ["list", "--json"], {"100k": 1.0, "10k": 0.3}),
        ("show NAME --json", ["show", mid, "--json"], {"100k": 0.3, "10k": 0.3}),
        ("resolve NAME@latest", ["resolve", f"{mid}@latest"], {"100k": 0.3, "10k": 0.3}),
        (
            "search EXPR --max-results 20",
            ["search", SEARCH, "--order-by", "metrics.rmse_val ASC", "--max-results", "20"],
            {"100k": 1.0, "10k": 0.3},
        ),
        ("find best --metric rmse_val", ["find", "best", "--metric", "rmse_val"], {"100k": 1.0, "10k": 0.3}),
        ("validate", ["validate"], {"100k": 15.0}),
        ("validate --base main (one promote)", ["validate", "--base", "main"], {"100k": 0.5, "10k": 0.5}),
        (
            "validate --base main --head pr (refs)",
            ["validate", "--base", "main", "--head", "pr"],
            {"100k": 0.5, "10k": 0.5},
        ),
        ("report -m NAME", ["report", "-m", mid, "-o", "site"], {"100k": 2.0, "10k": 2.0}),
    ]


def git(root: Path, *args: str) -> str:
    r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env={**os.environ, **ENV})
    if r.returncode:
        raise SystemExit(f"git {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


RUN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # time runs, not compiles


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=RUN_ENV)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}: {r.stderr.strip()[-400:]}")
    return took, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def wall(cmd: list[str], cwd: Path) -> float:
    return timed(cmd, cwd)[0]


def medians(cmd: list[str], cwd: Path, runs: int) -> tuple[float, float]:
    """Median wall and median CPU seconds of `runs` runs, after one that warms the page cache, the .pyc files
    and the catalog."""
    wall(cmd, cwd)
    found = [timed(cmd, cwd) for _ in range(runs)]
    return statistics.median(w for w, _ in found), statistics.median(c for _, c in found)


def median_of(cmd: list[str], cwd: Path, runs: int) -> float:
    return medians(cmd, cwd, runs)[0]


def prepare(root: Path, models: int, versions: int) -> None:
    """Generate and commit the registry, then a branch `pr` promoting one version (the gate's case)."""
    if root.exists():
        return
    start = time.perf_counter()
    generate(root, models, versions, seed=11, real_digests=True, commit=True)
    mid = NAME.format(models // 2)
    env = {**os.environ, **ENV}
    subprocess.run(
        [sys.executable, "-m", "mlreg", "promote", f"{mid}@1", "development", "--reason", "bench", "--branch", "pr"],
        cwd=root,
        check=True,
        capture_output=True,
        env=env,
    )
    print(f"generated and committed {models} x {versions} in {time.perf_counter() - start:.0f} s: {root}")


def measure(root: Path, size: str, runs: int) -> list[tuple[str, float, float, float | None, float | None]]:
    models = SIZES[size][0]
    out = []
    for label, args, targets in cases(models):
        cmd = [sys.executable, "-m", "mlreg", *args]
        gate = args[:2] == ["validate", "--base"]
        if gate:
            git(root, "checkout", "-q", "pr")
        try:
            first = None
            if args[0] in ("list", "search", "find"):
                shutil.rmtree(root / ".git" / "mlreg" / "catalog", ignore_errors=True)
                (root / ".git" / "mlreg" / "catalog").unlink(missing_ok=True)
                first = wall(cmd, root)
            elif args == ["validate"]:  # a fresh clone: no digest cache, no facts cache
                for kept in ("digests", "validated"):
                    (root / ".git" / "mlreg" / kept).unlink(missing_ok=True)
                first = wall(cmd, root)
            out.append((label, *medians(cmd, root, runs), first, targets.get(size)))
        finally:
            if gate:
                git(root, "checkout", "-q", "main")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Generate into DIR and keep it (default: a temp folder).")
    parser.add_argument("--only", choices=list(SIZES))
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="mlreg-scale-"))
    sizes = [opts.only] if opts.only else list(SIZES)
    ok = True
    try:
        for size in sizes:
            prepare(work / size, *SIZES[size])
        startup = median_of([sys.executable, "-c", "pass"], work, opts.runs)
        cli = median_of([sys.executable, "-c", "import mlreg.cli"], work, opts.runs)
        print(
            f"\nload average {os.getloadavg()[0]:.2f}; python start-up {startup:.3f} s, importing the CLI "
            f"{cli:.3f} s (medians of {opts.runs})\n"
        )
        for size in sizes:
            print(f"{size} versions ({SIZES[size][0]} models x {SIZES[size][1]}):")
            print(f"  {'command':<40} {'median':>7} {'cpu':>7} {'first':>7} {'target':>7}  result")
            for label, took, cpu, first, target in measure(work / size, size, opts.runs):
                good = target is None or took <= target
                ok &= good
                print(
                    f"  {label:<40} {took:>7.3f} {cpu:>7.3f} {f'{first:.3f}' if first else '':>7} "
                    f"{f'{target:g}' if target else '':>7}  {'PASS' if good else 'FAIL'}"
                )
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
        return 0 if ok else 1
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
