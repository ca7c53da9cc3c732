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
import hashlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_reads import NAME, version_record  # noqa: E402  (one record generator for both benchmarks)

from mlreg.records import PRESETS, Artifact, Model  # noqa: E402
from mlreg.store import dumps_json, dumps_yaml  # noqa: E402

ENV = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "Bench",
       "GIT_COMMITTER_EMAIL": "bench@example.com"}


def git(root: Path, *args: str) -> str:
    import os

    r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env={**os.environ, **ENV})
    if r.returncode:
        raise SystemExit(f"git {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def generate(root: Path, models: int, versions: int, seed: int = 11) -> None:
    """Write a valid registry (real digests) and commit it on main in one commit."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "mlreg.yaml").write_bytes(dumps_yaml(PRESETS["default"]))
    for m in range(models):
        name = NAME.format(m)
        folder = root / "registry" / name
        folder.mkdir(parents=True)
        model = Model(name=name, description=f"benchmark model {m}", tags={"team": "quant"},
                      aliases={"Staging": versions - 1})
        (folder / "model.yaml").write_bytes(dumps_yaml(model.to_dict()))
        for n in range(1, versions + 1):
            at = f"2025-{1 + n % 12:02d}-{1 + m % 28:02d}T{m % 24:02d}:{n % 60:02d}:00Z"
            vdir = folder / f"v{n}"
            vdir.mkdir()
            data = f"{name} v{n}\n".encode() * 20
            (vdir / "model.txt").write_bytes(data)
            record = version_record(rng, name, n, versions, at)
            record.artifacts = [Artifact(sha256=hashlib.sha256(data).hexdigest(), size=len(data), path="model.txt")]
            (vdir / "metadata.json").write_bytes(dumps_json(record.to_dict()))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "benchmark registry")


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
            generate(root, opts.models, opts.versions)
            print(f"generated and committed {opts.models} x {opts.versions} versions in "
                  f"{time.perf_counter() - start:.1f} s: {root}")
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
    cases = [(["validate"], 3.0, None), (["validate", "--base", "main"], 0.5, "pr"),
             (["validate", "--base", "main", "--head", "pr"], 0.5, "main")]
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
