"""Start-up benchmark: `mlreg --help`, `list`, `show`, `validate` on the example registry.

Targets (issue 3): `--help` and `list` under 0.3 s wall on a 2-core machine; none of them imports mlflow.
Run: python benchmarks/bench_cli.py [--runs N]   (exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = [
    (["--help"], 0.3),
    (["list"], 0.3),
    (["list", "--versions", "--json"], 0.3),
    (["show", "btcusdt-1h-inference-7d-logret@champion", "--json"], 0.3),
    (["validate"], 0.5),
]
NO_MLFLOW = (
    "import sys, runpy; sys.argv = ['mlreg', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('mlreg', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
)


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlreg", *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    env_ok = True
    print(f"{'command':<60} {'median s':>9} {'target':>7}  result")
    for args, target in CASES:
        wall(args)  # warm the page cache and .pyc files
        median = statistics.median(wall(args) for _ in range(runs))
        ok = median < target
        env_ok &= ok
        print(f"{'mlreg ' + ' '.join(args):<60} {median:>9.3f} {target:>7.1f}  {'PASS' if ok else 'FAIL'}")
        probe = subprocess.run(
            [sys.executable, "-c", NO_MLFLOW, *args], cwd=ROOT, capture_output=True, text=True, env=os.environ.copy()
        )
        if probe.returncode:
            print(f"  mlflow imported by `mlreg {' '.join(args)}`: {probe.stderr.strip().splitlines()[-1]}")
            env_ok = False
    return 0 if env_ok else 1


if __name__ == "__main__":
    sys.exit(main())
