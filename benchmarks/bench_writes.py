"""Write-path benchmark: `register` of a 200 MB training folder and `promote` on a 10,000-version registry.

Target (issue 10): the transactional write path is no more than 10% slower than the code it replaced.
Both code trees run on the same machine, runs interleaved (baseline, new, baseline, new, ...) so that load
from other processes hits both alike; the figure is the median wall time of the whole `mlreg ...` process.

  register   a fresh registry per run (git init + mlreg init, untimed), then `mlreg register m --from-dir F`
             with F = one 150 MB model file + 50 x 1 MB files + run_metadata.json (random bytes: incompressible)
  promote    1,000 models x 10 versions (generated and committed once); `mlreg promote model-NNNN@3 beta`
             and `mlreg promote model-NNNN@9 champion` (demotes the old champion), each on a new model;
             the checkout is reset between runs (untimed)

Run: python benchmarks/bench_writes.py [--baseline-ref b9181b3 | --baseline DIR] [--runs 5] [--mb 200]
     the baseline is the code to compare against: a git ref of this repository (extracted with git archive;
     default b9181b3, main before the transactional write path) or a checkout
Exit status 1 when the new code is more than 10% slower (median) than the baseline on any case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_reads import NAME, generate

HERE = Path(__file__).resolve().parent.parent
SLOWER_AT_MOST = 1.10


def mlreg(code: Path, cwd: Path, *args: str) -> float:
    """Wall time of one `mlreg ARGS` run with `code` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mlreg", *args], cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"mlreg {' '.join(args)} ({code}) failed in {cwd}: {r.stderr.strip()}")
    return took


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def training_folder(folder: Path, mb: int) -> None:
    """A training output folder of about `mb` MB of random bytes."""
    folder.mkdir(parents=True)
    small = min(50, mb // 4)
    with open(folder / "model.bin", "wb") as f:
        for _ in range(mb - small):
            f.write(os.urandom(1 << 20))
    for i in range(small):
        (folder / "shards" / f"part-{i:03d}.bin").parent.mkdir(exist_ok=True)
        (folder / "shards" / f"part-{i:03d}.bin").write_bytes(os.urandom(1 << 20))
    (folder / "run_metadata.json").write_text(
        json.dumps(
            {
                "run_name": "run_20251008_145809_lgbm",
                "experiment": "bench",
                "model_type": "lgbm",
                "metrics": {"rmse_val": 0.0669},
            }
        )
    )


def _large(code: Path) -> list[str]:
    """`--allow-large` where the code has it (files over artifacts.git_max_file_mb go to git, as before)."""
    r = subprocess.run(
        [sys.executable, "-m", "mlreg", "register", "--help"],
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
    )
    return ["--allow-large"] if "--allow-large" in r.stdout else []


def fresh_registry(code: Path, where: Path) -> Path:
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    git(where, "init", "-q")
    git(where, "-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-q", "--allow-empty", "-m", "start")
    mlreg(code, where, "init")
    return where


def bench_register(codes: dict[str, Path], work: Path, src: Path, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in codes}
    for i in range(runs + 1):  # the first round warms the page cache and .pyc files
        for label, code in codes.items():
            repo = fresh_registry(code, work / f"reg-{label}")
            took = mlreg(code, repo, "register", "m", "--from-dir", str(src), *_large(code))
            if i:
                times[label].append(took)
            shutil.rmtree(repo)
    return times


def bench_promote(codes: dict[str, Path], big: Path, runs: int) -> dict[str, dict[str, list[float]]]:
    start = git(big, "rev-parse", "HEAD").strip()
    out: dict[str, dict[str, list[float]]] = {
        "promote @3 beta": {k: [] for k in codes},
        "promote @9 champion": {k: [] for k in codes},
    }
    model = 0
    for i in range(runs + 1):
        for label, code in codes.items():
            model += 1
            for case, args in (
                ("promote @3 beta", [f"{NAME.format(model)}@3", "beta"]),
                ("promote @9 champion", [f"{NAME.format(model)}@9", "champion"]),
            ):
                took = mlreg(code, big, "promote", *args, "--reason", "benchmark")
                if i:
                    out[case][label].append(took)
            git(big, "reset", "-q", "--hard", start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="Checkout of the code to compare against.")
    parser.add_argument(
        "--baseline-ref", default="b9181b3", help="Or a git ref of this repository (default: %(default)s)."
    )
    parser.add_argument("--code", type=Path, default=HERE, help="The new code (default: this checkout).")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--models", type=int, default=1000)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlreg-bench-writes-"))
    if opts.baseline is None:
        opts.baseline = work / "baseline"
        opts.baseline.mkdir()
        archive = subprocess.run(["git", "archive", opts.baseline_ref], cwd=HERE, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(opts.baseline)], input=archive.stdout, check=True)
    codes = {"before": opts.baseline.resolve(), "after": opts.code.resolve()}
    try:
        src = work / "train"
        training_folder(src, opts.mb)
        results = {f"register {opts.mb} MB": bench_register(codes, work, src, opts.runs)}
        big = work / "big"
        generate(big, opts.models, 10)
        git(big, "add", "-A")
        git(big, "-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-q", "-m", "generated")
        results |= bench_promote(codes, big, opts.runs)
        return report(results, opts)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, dict[str, list[float]]], opts: argparse.Namespace) -> int:
    print(f"\nwall time in s, median of {opts.runs} interleaved runs ({opts.models} x 10 versions for promote)\n")
    head = f"{'case':<26} {'before':>8} {'after':>8} {'after/before':>13}  result"
    print(head + "\n" + "-" * len(head))
    ok_all = True
    for case, times in results.items():
        before, after = statistics.median(times["before"]), statistics.median(times["after"])
        ok = after <= before * SLOWER_AT_MOST
        ok_all &= ok
        print(f"{case:<26} {before:>8.3f} {after:>8.3f} {after / before:>13.2f}  {'PASS' if ok else 'FAIL'}")
    print(f"\n{'target met' if ok_all else 'TARGET MISSED'}: after <= {SLOWER_AT_MOST:.2f} x before")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
