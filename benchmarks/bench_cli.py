"""Start-up benchmark: `mlreg --help` and the reads, beside Python's own start-up and the import of the CLI.

Targets (issues 3 and 24): `--help`, `list`, `show` and `resolve` under 0.3 s wall on a 2-core machine; none
imports MLflow, boto3, jsonschema or gitpython, and nothing that prints JSON (or help) imports Rich.
`--registry DIR --model NAME` times the one-model reads on another registry (e.g. the 1,000 x 10 and
5,000 x 20 ones bench_scale.py makes): their time must not grow with the registry.
Run: python benchmarks/bench_cli.py [--runs N] [--registry DIR --model NAME]   (exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "btcusdt-1h-inference-7d-logret"
HEAVY = ("mlflow", "boto3", "botocore", "jsonschema", "git")
PROBE = """
import io, json, sys
from mlreg.cli import main
sys.stdout = io.StringIO()
main(sys.argv[1:])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.stdin.read())))), file=sys.stderr)
"""


def cases(model: str, example: bool) -> list[tuple[list[str], float]]:
    reads = [
        (["show", model, "--json"], 0.3),
        (["show", f"{model}@latest", "--json"], 0.3),
        (["resolve", f"{model}@latest"], 0.3),
    ]
    if not example:
        return reads
    return [
        (["--help"], 0.3),
        (["list"], 0.3),
        (["list", "--versions", "--json"], 0.3),
        (["show", f"{model}@champion", "--json"], 0.3),
        *reads,
        (["validate"], 0.5),
    ]


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, user + sys CPU) of one run, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(argv: list[str], cwd: Path, runs: int) -> tuple[float, float]:
    timed(argv, cwd)  # warm the page cache and .pyc files
    got = [timed(argv, cwd) for _ in range(runs)]
    return statistics.median(w for w, _ in got), statistics.median(c for _, c in got)


def imported(args: list[str], cwd: Path) -> list[str]:
    """Which of the heavy libraries (and Rich) `mlreg ARGS` imports."""
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        input=json.dumps([*HEAVY, "rich"]),
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    return json.loads(r.stderr.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--registry", type=Path, default=ROOT, help="registry folder (default: the example)")
    parser.add_argument("--model", default=EXAMPLE, help="model to show and resolve there")
    opts = parser.parse_args()
    where = opts.registry.resolve()
    print(f"{'command':<60} {'wall s':>7} {'cpu s':>7} {'target':>7}  result")
    for code in ("pass", "import mlreg.cli"):  # Python's own start-up, and importing the CLI
        wall, cpu = medians([sys.executable, "-c", code], where, opts.runs)
        print(f"{f'python -c {code!r}':<60} {wall:>7.3f} {cpu:>7.3f}")
    ok = True
    for args, target in cases(opts.model, where == ROOT):
        wall, cpu = medians([sys.executable, "-m", "mlreg", *args], where, opts.runs)
        met = wall < target
        print(f"{'mlreg ' + ' '.join(args):<60} {wall:>7.3f} {cpu:>7.3f} {target:>7.1f}  {'PASS' if met else 'FAIL'}")
        heavy = imported(args, where)
        table = args[0] in ("list", "show", "resolve") and "--json" not in args  # resolve prints no table
        allowed = ["rich"] if table and args[0] != "resolve" else []
        if [m for m in heavy if m not in allowed]:
            print(f"  `mlreg {' '.join(args)}` imported {', '.join(m for m in heavy if m not in allowed)}")
            met = False
        ok &= met
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
