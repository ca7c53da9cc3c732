"""Report benchmark: `mlreg report` of a generated 1,000 models x 10 versions registry, and of one model.

Targets (issue 15), wall time of the whole `mlreg report ...` process:
  the whole registry (1,000 x 10: 11,001 pages, 1,000 metric figures)   < 60 s
  one model (--model)                                                      < 2 s
The registry is generated as bench_reads.py does, then committed once (the report reads git, never
the work tree); the generation and the commit are not timed.
Run: python benchmarks/bench_report.py [--models 1000] [--versions 10] [--runs 1] [--keep DIR]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reads import NAME, generate

TARGET_ALL, TARGET_ONE = 60.0, 2.0


def commit(root: Path) -> None:
    env = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), *env, "commit", "-q", "-m", "generated registry"], check=True)


CPU: list[float] = []  # CPU seconds (user + system) of each run, its worker processes included


def wall(root: Path, args: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mlreg", "report", *args], cwd=root, capture_output=True, text=True)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        raise SystemExit(f"mlreg report {' '.join(args)} failed in {root}: {r.stderr.strip()}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1, help="runs of the whole-registry report (one model: 5x)")
    parser.add_argument("--keep", type=Path, help="Generate into DIR and keep it (default: a temp folder).")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="mlreg-bench-report-"))
    root = work / "registry"
    try:
        if not root.exists():
            start = time.perf_counter()
            generate(root, opts.models, opts.versions)
            commit(root)
            print(
                f"generated and committed {opts.models} x {opts.versions} versions in "
                f"{time.perf_counter() - start:.1f} s: {root}"
            )
        one = NAME.format(opts.models // 2)
        wall(root, ["-o", str(work / "one"), "--model", one])  # warm the page cache and .pyc files
        t_all = [wall(root, ["-o", str(work / "site")]) for _ in range(opts.runs)]
        cpu_all = CPU[-opts.runs :]
        t_one = [wall(root, ["-o", str(work / "one"), "--model", one]) for _ in range(5)]
        cpu_one = CPU[-5:]
        pages = sum(1 for _ in (work / "site").rglob("*.html"))
        size = sum(p.stat().st_size for p in (work / "site").rglob("*") if p.is_file()) / 1e6
        ok_all, ok_one = statistics.median(t_all) < TARGET_ALL, statistics.median(t_one) < TARGET_ONE
        load = os.getloadavg()[0]
        print(
            f"\nwall time in s (median, best), CPU time in s (median, all processes), target on wall time; "
            f"{os.cpu_count()} CPUs, load average {load:.1f}"
        )
        print(f"{'case':<44} {'median':>7} {'best':>7} {'CPU':>7} {'target':>7}  result")
        print(
            f"{f'whole registry ({pages} pages, {size:.0f} MB)':<44} {statistics.median(t_all):>7.2f} "
            f"{min(t_all):>7.2f} {statistics.median(cpu_all):>7.2f} {TARGET_ALL:>7.1f}  {'PASS' if ok_all else 'FAIL'}"
        )
        print(
            f"{'one model (--model ' + one + ')':<44} {statistics.median(t_one):>7.2f} {min(t_one):>7.2f} "
            f"{statistics.median(cpu_one):>7.2f} {TARGET_ONE:>7.1f}  {'PASS' if ok_one else 'FAIL'}"
        )
        return 0 if ok_all and ok_one else 1
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
