"""Validate benchmark: `mlreg validate` and a one-model pull request's `mlreg validate --base` on a generated,
committed 1,000 x 10 registry (10,000 versions, each with an in-git artifact).

Targets (issue 11), wall time of the whole `mlreg ...` process, median of --runs runs:
  validate (the whole registry, digests checked; warm digest cache)          <= 3 s
  validate --base main on a branch promoting one model's version (work tree) <= 0.5 s
  validate --base main --head BRANCH (the same change, as refs)             <= 0.5 s
The first, cold `validate` (no digest cache yet: every artifact hashed) is shown, not judged.

Run: python benchmarks/bench_validate.py [--models 1000] [--versions 10] [--runs 5] [--keep DIR]
Exit status 1 when a target is missed.
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

sys.path.insert(0, str(Path(__file__).parent))
from bench_reads import NAME, generate  # one registry generator for both benchmarks

ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(root: Path, *args: str) -> str:
    import os

    r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env={**os.environ, **ENV})
    if r.returncode:
        raise SystemExit(f"git {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def mlreg(root: Path, *args: str) -> float:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mlreg", *args], cwd=root, capture_output=True, text=True)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"mlreg {' '.join(args)} failed in {root}: {r.stderr.strip()[:2000]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="Generate into DIR and keep it (default: a temp folder).")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="mlreg-bench-validate-"))
    root = work / "registry-repo"
    try:
        if not root.exists():
            start = time.perf_counter()
            generate(root, opts.models, opts.versions, seed=11, real_digests=True, commit=True)
            print(
                f"generated and committed {opts.models} x {opts.versions} versions in "
                f"{time.perf_counter() - start:.1f} s: {root}"
            )
        return report(root, opts)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(root: Path, opts: argparse.Namespace) -> int:
    cache = Path(git(root, "rev-parse", "--absolute-git-dir").strip()) / "mlreg" / "digests"
    cache.unlink(missing_ok=True)
    cold = mlreg(root, "validate")
    mid = NAME.format(opts.models // 2)
    if not git(root, "branch", "--list", "pr"):
        mlreg(root, "promote", f"{mid}@{opts.versions - 1}", "champion", "--reason", "bench", "--branch", "pr")
    cases = [
        (["validate"], 3.0, None),
        (["validate", "--base", "main"], 0.5, "pr"),
        (["validate", "--base", "main", "--head", "pr"], 0.5, "main"),
    ]
    ok_all = True
    print(f"\nwall time in s of {opts.runs} runs on the {opts.models} x {opts.versions} registry\n")
    print(f"{'mlreg validate (cold: no digest cache)':<58} {cold:>6.3f}")
    for args, target, checkout in cases:
        if checkout:
            git(root, "checkout", "-q", checkout)
        mlreg(root, *args)  # warm
        times = [mlreg(root, *args) for _ in range(opts.runs)]
        med = statistics.median(times)
        ok = med <= target
        ok_all &= ok
        shown = "mlreg " + " ".join(args) + (f"  (on {checkout})" if checkout else "")
        print(f"{shown:<58} {med:>6.3f} {min(times):>6.3f}  target {target:.1f}  {'PASS' if ok else 'FAIL'}")
    git(root, "checkout", "-q", "main")
    print(f"\n{'all targets met' if ok_all else 'SOME TARGETS MISSED'} (median, best)")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
