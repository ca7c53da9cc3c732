"""The benchmarks as tests, run by hand: `python -m pytest -m benchmark` (deselected by default).

Targets live in the benchmark scripts, not in unit tests: each script exits 1 when one is missed.
"""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "benchmarks"

pytestmark = pytest.mark.benchmark


@pytest.mark.parametrize(
    "script, args",
    [
        ("bench_cli.py", ["--runs", "5"]),
        ("bench_reads.py", ["--runs", "3"]),
        ("bench_sync.py", []),
        ("bench_report.py", []),
        ("bench_install.py", ["--runs", "2"]),
        ("bench_validate.py", ["--runs", "3"]),
    ],
)
def test_benchmark_meets_its_targets(script, args):
    r = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
