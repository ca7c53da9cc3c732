"""Benchmark `mlreg sync` against a local `mlflow server` (sqlite backend); baseline: a per-version MlflowClient loop.

    python benchmarks/bench_sync.py                 # 20 models x 10 versions: baseline, first sync, no-op resync
    python benchmarks/bench_sync.py --big 1000      # also a no-op resync of 1,000 versions (100 models x 10)
    python benchmarks/bench_sync.py --tracking-uri http://127.0.0.1:5000   # use a server you started
    python benchmarks/bench_sync.py --team          # also on the team stack (PostgreSQL + S3, scripts/team-stack):
                                                    # first sync, no-op, --check, and a no-op beside 2,000 runs
                                                    # of another registry (target: within 20% of an empty server)

Each no-op sync and --check is also timed as the command a user types (`mlreg sync` in a fresh Python, wall time by
/usr/bin/time when present, with its peak memory): start-up and imports included, unlike the in-process figures.
A small registry (--cli-models x --cli-versions, default 5 x 4) is timed that way on the embedded store and on the
server: first sync, no-op sync and --check, median of 3 fresh processes each, beside Python's own start-up.

HTTP requests are counted by wrapping requests.Session.request (MLflow's client sends every call, artifact uploads
included, through it) and urllib's opener (sync's light read path) in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CALLS: list[tuple[str, str]] = []


def count_http() -> None:
    import urllib.request

    import requests

    real = requests.Session.request
    real_open = urllib.request.OpenerDirector.open

    def counted(self, method, url, *args, **kwargs):
        CALLS.append((method, url))
        return real(self, method, url, *args, **kwargs)

    def opened(self, request, *args, **kwargs):
        if isinstance(request, urllib.request.Request):
            CALLS.append((request.get_method(), request.full_url))
        return real_open(self, request, *args, **kwargs)

    requests.Session.request = counted
    urllib.request.OpenerDirector.open = opened


@contextmanager
def measured(label: str, results: dict):
    CALLS.clear()
    start = time.perf_counter()
    yield
    results[label] = {"seconds": round(time.perf_counter() - start, 2), "http_requests": len(CALLS)}
    print(f"{label:<32} {results[label]['seconds']:>8.2f} s {len(CALLS):>7} requests", flush=True)


@contextmanager
def mlflow_server(folder: Path):
    """`mlflow server` on a free 127.0.0.1 port, sqlite backend, one worker; stopped on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


def build_registry(root: Path, prefix: str, models: int, versions: int) -> None:
    """A registry of `models` x `versions`: params, metrics, one artifact each; v5 Staging, last version champion."""
    from mlreg.api import Registry
    from mlreg.core.files import dumps_json, dumps_yaml
    from mlreg.core.records import Artifact, Model, Run, StageChange, Version
    from mlreg.core.runmeta import digest

    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    reg = Registry(root)
    reg.init(commit=False)
    for m in range(models):
        name = f"{prefix}-{m:03d}"
        folder = root / "registry" / name
        folder.mkdir(parents=True)
        aliases = {"Staging": 5} if versions >= 5 else {}
        (folder / "model.yaml").write_bytes(
            dumps_yaml(Model(name, f"benchmark model {m}", {"team": "bench"}, aliases).to_dict())
        )
        for n in range(1, versions + 1):
            vdir = folder / f"v{n}"
            vdir.mkdir()
            (vdir / "model.txt").write_text(f"{name} v{n}\n" * 50)
            at = f"2025-06-{(n % 28) + 1:02d}T10:00:00Z"
            history = [StageChange("development", at, "bench", "register", None, "registered")]
            stage = "development"
            if n == versions:
                history += [
                    StageChange("beta", at, "bench", "promote", "development", "ok"),
                    StageChange("champion", at, "bench", "promote", "beta", "best"),
                ]
                stage = "champion"
            v = Version(
                name,
                n,
                at,
                "bench",
                stage,
                f"version {n}",
                Run(f"{name}-exp", f"run_{n:03d}"),
                {"model_type": "lgbm", "learning_rate": "0.03", "num_leaves": "63"},
                {"rmse_val": 0.07 - n / 1000, "rmse_test": 0.05},
                {"target_type": "regression"},
                history,
                artifacts=[Artifact(digest(vdir / "model.txt"), (vdir / "model.txt").stat().st_size, "model.txt")],
            )
            (vdir / "metadata.json").write_bytes(dumps_json(v.to_dict()))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "benchmark registry"], cwd=root, check=True, env=env)


def baseline(url: str, prefix: str, models: int, versions: int, artifact: Path) -> None:
    """The straightforward loop: per version a run, log_batch, one artifact, a model version, two tags,
    an alias every 5th version (and the run marked finished)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    c = MlflowClient(url, url)
    for m in range(models):
        name = f"{prefix}-{m:03d}"
        exp = c.create_experiment(f"{name}-exp")
        c.create_registered_model(name, tags={"team": "bench"}, description=f"benchmark model {m}")
        for n in range(1, versions + 1):
            run = c.create_run(exp, run_name=f"run_{n:03d}", tags={"target_type": "regression"})
            rid = run.info.run_id
            c.log_batch(
                rid,
                metrics=[Metric("rmse_val", 0.07 - n / 1000, 0, 0), Metric("rmse_test", 0.05, 0, 0)],
                params=[Param("model_type", "lgbm"), Param("learning_rate", "0.03"), Param("num_leaves", "63")],
            )
            c.log_artifact(rid, str(artifact))
            c.set_terminated(rid)
            mv = c.create_model_version(name, run.info.artifact_uri, rid)
            c.set_model_version_tag(name, mv.version, "stage", "development")
            c.set_model_version_tag(name, mv.version, "model_type", "lgbm")
            if n % 5 == 0:
                c.set_registered_model_alias(name, f"a{n}", mv.version)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--versions", type=int, default=10, help="versions per model")
    ap.add_argument("--big", type=int, default=0, help="also time a no-op resync of this many versions")
    ap.add_argument("--tracking-uri", help="an already running server (default: start one)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    ap.add_argument("--team", action="store_true", help="also run on the team stack (PostgreSQL + S3)")
    ap.add_argument("--team-only", action="store_true", help="only the team stack (no sqlite server, no baseline)")
    ap.add_argument("--foreign-runs", type=int, default=2000, help="runs of another registry on the team server")
    ap.add_argument("--cli-models", type=int, default=5, help="models of the small registry timed as CLI commands")
    ap.add_argument("--cli-versions", type=int, default=4, help="versions per model of that registry")
    ap.add_argument("--cli-only", action="store_true", help="only the CLI timings of the small registry")
    ap.add_argument("--no-baseline", action="store_true", help="skip the baseline loop (minutes on a loaded machine)")
    args = ap.parse_args()

    import logging

    import mlflow  # noqa: F401  (import cost is not what we measure)

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    count_http()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    results: dict = {"models": args.models, "versions": args.models * args.versions, "load_before": load()}
    try:
        if not args.team_only:
            with mlflow_server(tmp / "server") if not args.tracking_uri else _given(args.tracking_uri) as url:
                if not args.cli_only:
                    _run(url, tmp, args, results)
                results["cli"] = _run_cli(url, tmp, args)
        if args.team or args.team_only:
            with team_stack(tmp / "team") as url:
                results["team"] = {}
                _run_team(url, tmp, args, results["team"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_after"] = load()
    if args.json:
        print(json.dumps(results, indent=2))
    missed = missed_targets(results, args)
    for line in missed:
        print(f"TARGET MISSED: {line}")
    sys.exit(1 if missed else 0)


def missed_targets(results: dict, args) -> list[str]:
    """Issue 6's targets: first sync >= 2x the baseline loop; no-op resync of 1,000 versions < 10 s with a
    constant number of requests (5 reads, plus 2 per further 100 models). Issue 24's: `mlreg sync --check` of a
    small registry on the embedded store in 1.5 s (checked on CPU time, which a loaded machine does not inflate)."""
    out = []
    team = results.get("team", {})
    if team and team["noop_ratio_crowded_vs_empty"] > 1.2:
        out.append(
            f"no-op sync beside {args.foreign_runs} runs of another registry took "
            f"{team['noop_ratio_crowded_vs_empty']}x the time on an empty server (target <= 1.2x)"
        )
    if results.get("speedup_first_sync", 2) < 2:
        out.append(f"first sync only {results['speedup_first_sync']}x faster than the baseline loop (target 2x)")
    cli = results.get("cli", {}).get("embedded: mlreg sync --check")
    if cli and cli["cpu_seconds"] > 1.5:  # issue 24: <= 1.5 s wall on an idle machine; CPU is its floor
        out.append(f"CLI sync --check of a small registry took {cli['cpu_seconds']} s of CPU (target <= 1.5 s)")
    if "mlreg sync (no-op)" not in results:
        return out
    noop = results["mlreg sync (no-op)"]
    if noop["http_requests"] > 5 + 2 * (args.models // 100):
        out.append(f"no-op sync made {noop['http_requests']} requests (target: a constant few)")
    big = [v for k, v in results.items() if k.startswith("mlreg sync (no-op, ")]
    if big and big[0]["seconds"] * 1000 / args.big >= 10:
        out.append(f"no-op resync of {args.big} versions took {big[0]['seconds']:.1f} s (target < 10 s per 1,000)")
    return out


@contextmanager
def _given(url: str):
    yield url


@contextmanager
def team_stack(folder: Path):
    """scripts/team-stack up (PostgreSQL + moto S3 + mlflow server, proxied artifacts); down on exit."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "team-stack"
    up = subprocess.run(
        [sys.executable, str(script), "up", "--json", "--dir", str(folder)], capture_output=True, text=True
    )
    if up.returncode:
        sys.exit(f"team-stack up failed:\n{up.stderr}")
    try:
        yield json.loads(up.stdout)["tracking_uri"]
    finally:
        subprocess.run([sys.executable, str(script), "down", "--dir", str(folder)], capture_output=True)


def foreign_runs(url: str, n: int) -> None:
    """`n` finished runs that another registry's sync made (its tags), in one experiment, 8 at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from mlflow import MlflowClient

    c = MlflowClient(url, url)
    exp = c.create_experiment(f"other-registry-{int(time.time())}")

    def one(i: int) -> None:
        mark = {
            "digest": f"{i:064x}",
            "model": f"other-{i // 10:04d}",
            "registry": "someone-else",
            "tags": [],
            "version": i % 10 + 1,
        }
        tags = {"mlreg.sync": json.dumps(mark, sort_keys=True, separators=(",", ":"))}
        c.set_terminated(c.create_run(exp, tags=tags).info.run_id)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def load() -> str:
    """The load averages (1, 5, 15 minutes): the machine is shared, so every time is read beside them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(cmd: list[str], root: Path) -> tuple[float, float, int | None]:
    """One fresh process: (wall s, user+sys CPU s, peak RSS MB), by /usr/bin/time when present."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    timer = ["/usr/bin/time", "-f", "TIME %e %U %S %M"] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    done = subprocess.run(timer + cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    line = next((x for x in done.stderr.splitlines() if x.startswith("TIME ")), None)
    if line is None:
        return round(wall, 2), 0.0, None
    _, e, u, s, m = line.split()
    return float(e), round(float(u) + float(s), 2), int(m) // 1024


def sync_cmd(url: str | None, *args: str) -> list[str]:
    """`mlreg sync` as typed: against `url`, or the embedded store when None."""
    return [sys.executable, "-m", "mlreg", "sync", *(["--tracking-uri", url] if url else []), *args]


def cli_time(root: Path, url: str | None, label: str, results: dict, *args: str, repeat: int = 1) -> None:
    """`mlreg sync ARGS` as a user runs it: fresh processes, median wall time (CPU and peak RSS beside)."""
    runs = sorted(timed(sync_cmd(url, *args), root) for _ in range(repeat))
    wall, cpu, rss = runs[len(runs) // 2]
    results[label] = {"seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": rss, "runs": len(runs)}
    print(f"{label:<40} {wall:>6.2f} s wall {cpu:>6.2f} s CPU (median of {len(runs)}; peak {rss} MB)", flush=True)


def _run_cli(url: str, tmp: Path, args) -> dict:
    """The small registry as a user times it, on the embedded store and on the server: first sync (a fresh registry
    each time), no-op and --check, median of 3, beside `python -c pass` and `import mlflow`."""
    out: dict = {"load_before": load()}
    n, v = args.cli_models, args.cli_versions
    print(f"CLI, fresh processes: {n} models x {v} versions; load {out['load_before']}", flush=True)
    for label, code in (("python -c pass", "pass"), ("python -c 'import mlflow'", "import mlflow")):
        runs = sorted(timed([sys.executable, "-c", code], tmp) for _ in range(3))
        out[label] = {"seconds": runs[1][0], "cpu_seconds": runs[1][1]}
        print(f"{label:<40} {runs[1][0]:>6.2f} s wall {runs[1][1]:>6.2f} s CPU (median of 3)", flush=True)
    stamp = str(int(time.time()))
    for where, uri in (("embedded", None), ("server", url)):
        firsts = []
        for i in range(3):
            build_registry(tmp / f"cli-{where}-{i}", f"cli{where[0]}{stamp}{i}", n, v)
            firsts.append(timed(sync_cmd(uri), tmp / f"cli-{where}-{i}"))
        wall, cpu, rss = sorted(firsts)[1]
        out[f"{where}: mlreg sync (first)"] = {"seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": rss, "runs": 3}
        print(f"{where + ': mlreg sync (first)':<40} {wall:>6.2f} s wall {cpu:>6.2f} s CPU (median of 3)", flush=True)
        root = tmp / f"cli-{where}-0"
        cli_time(root, uri, f"{where}: mlreg sync (no-op)", out, repeat=3)
        cli_time(root, uri, f"{where}: mlreg sync --check", out, "--check", repeat=3)
    out["load_after"] = load()
    print(f"load {out['load_after']}", flush=True)
    return out


def _median_noop(reg, url: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        assert reg.sync(url).writes == 0
        times.append(time.perf_counter() - start)
    return round(sorted(times)[len(times) // 2], 3)


def _run_team(url: str, tmp: Path, args, results: dict) -> None:
    """The PostgreSQL + S3 column: first sync, no-op, --check; then a no-op beside another registry's runs."""
    from mlreg.api import Registry

    total = args.models * args.versions
    print(f"team stack {url} (PostgreSQL + S3); {total} versions", flush=True)
    build_registry(tmp / "team-repo", f"team{int(time.time())}", args.models, args.versions)
    reg = Registry(tmp / "team-repo")
    with measured("team: mlreg sync (first)", results):
        assert reg.sync(url).ok
    with measured("team: mlreg sync (no-op)", results):
        assert reg.sync(url).writes == 0
    with measured("team: mlreg sync --check", results):
        assert reg.sync(url, check=True).ok
    cli_time(tmp / "team-repo", url, "team: CLI mlreg sync (no-op)", results)
    cli_time(tmp / "team-repo", url, "team: CLI mlreg sync --check", results, "--check")
    empty = _median_noop(reg, url)
    start = time.perf_counter()
    foreign_runs(url, args.foreign_runs)
    print(f"{args.foreign_runs} runs of another registry made in {time.perf_counter() - start:.1f} s", flush=True)
    crowded = _median_noop(reg, url)
    results["noop_median_empty_s"], results["noop_median_crowded_s"] = empty, crowded
    results["noop_ratio_crowded_vs_empty"] = round(crowded / empty, 2)
    print(
        f"team no-op sync, median of 5: {empty:.3f} s alone, {crowded:.3f} s beside {args.foreign_runs} runs of "
        f"another registry ({results['noop_ratio_crowded_vs_empty']}x)",
        flush=True,
    )


def _run(url: str, tmp: Path, args, results: dict) -> None:
    from mlreg.api import Registry

    stamp = str(int(time.time()))
    total = args.models * args.versions
    print(f"server {url}; {args.models} models x {args.versions} versions = {total} versions", flush=True)
    artifact = tmp / "model.txt"
    artifact.write_text("x\n" * 50)
    if not args.no_baseline:
        with measured("baseline loop (MlflowClient)", results):
            baseline(url, f"base{stamp}", args.models, args.versions, artifact)
    build_registry(tmp / "repo", f"sync{stamp}", args.models, args.versions)
    reg = Registry(tmp / "repo")
    with measured("mlreg sync (first)", results):
        report = reg.sync(url)
    assert report.ok and report.totals()["created"] >= 2 * total, report.totals()
    with measured("mlreg sync (no-op)", results):
        report = reg.sync(url)
    assert report.ok and report.writes == 0
    with measured("mlreg sync --check", results):
        assert reg.sync(url, check=True).ok
    cli_time(tmp / "repo", url, "CLI mlreg sync (no-op)", results, repeat=3)
    cli_time(tmp / "repo", url, "CLI mlreg sync --check", results, "--check", repeat=3)
    f = results["mlreg sync (first)"]
    results["requests_per_version"] = {"first_sync": round(f["http_requests"] / total, 2)}
    if not args.no_baseline:
        b = results["baseline loop (MlflowClient)"]
        results["speedup_first_sync"] = round(b["seconds"] / f["seconds"], 2)
        results["requests_per_version"]["baseline"] = round(b["http_requests"] / total, 2)
        print(
            f"first sync speed-up over the baseline loop: {results['speedup_first_sync']}x; requests per version "
            f"{results['requests_per_version']['first_sync']} vs {results['requests_per_version']['baseline']}"
        )
    if args.big:
        models = max(1, args.big // args.versions)
        build_registry(tmp / "big", f"big{stamp}", models, args.versions)
        big = Registry(tmp / "big")
        with measured(f"mlreg sync (first, {models * args.versions})", results):
            assert big.sync(url).ok
        with measured(f"mlreg sync (no-op, {models * args.versions})", results):
            assert big.sync(url).writes == 0


if __name__ == "__main__":
    main()
