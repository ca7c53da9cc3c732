"""Object-store benchmark against a moto S3 server on 127.0.0.1 (its own process, so it never shares a GIL).

Targets (issue 13), in one run:
  * upload and download of a 1 GiB version (several files): mlreg register / pull at least 0.9x the throughput of
    boto3's own upload_file / download_file on the same files (register also hashes, checks and commits; pull
    also checks every sha256);
  * a second `mlreg pull` of the same version transfers 0 bytes and takes under 0.3 s (the CLI, wall clock);
  * `mlreg register` of 200 small files to the store under 5 s (the CLI, wall clock).
Upload and download: each side runs twice and keeps its best time (the machine is shared).
Run: python benchmarks/bench_store.py [--gib 1] [--files 4]   (exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = (
    "import sys, threading; from moto.server import ThreadedMotoServer\n"
    "s = ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), verbose=False); s.start()\n"
    "print('ready', flush=True); threading.Event().wait()\n"
)
MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return took, done.stdout


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def clear(s3, prefix: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=prefix):
        if page.get("Contents"):
            s3.delete_objects(Bucket="bench", Delete={"Objects": [{"Key": o["Key"]} for o in page["Contents"]]})


def make_files(folder: Path, total: int, count: int) -> None:
    folder.mkdir(parents=True)
    (folder / "run_metadata.json").write_text(json.dumps({"run_name": "bench", "model_type": "lgbm"}))
    each = total // count
    for i in range(count):
        with open(folder / f"part-{i}.bin", "wb") as f:
            for _ in range(each // (64 * MIB)):
                f.write(os.urandom(64 * MIB))  # incompressible, like model weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="size of the big version")
    parser.add_argument("--files", type=int, default=4, help="files in the big version")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert server.stdout and server.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory(prefix="mlreg-bench-store-") as tmp:
            return bench(Path(tmp), f"http://127.0.0.1:{port}", args.gib, args.files)
    finally:
        server.kill()
        server.wait()


def bench(tmp: Path, endpoint: str, gib: float, count: int) -> int:
    import boto3

    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
        MLREG_CACHE=str(tmp / "cache"),
        AWS_EC2_METADATA_DISABLED="true",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(tmp),
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="b@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="b@example.com",
    )
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
    )
    s3.create_bucket(Bucket="bench")
    big = tmp / "big"
    make_files(big, int(gib * 1024) * MIB, count)
    size = sum(p.stat().st_size for p in big.iterdir())
    repo = tmp / "repo"
    repo.mkdir()
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "mlreg", "init"]):
        run(cmd, repo, env)
    mlreg = [sys.executable, "-m", "mlreg"]
    rows, ok = [], True

    # boto3's own transfers, file by file (each multipart and threaded the way boto3 does it). Each side uploads
    # twice (the second time beside the first copy) and keeps its best time, as the machine is shared; boto3's
    # objects are deleted before mlreg runs, so both find the server in the same state.
    def boto_upload(run: int) -> None:
        for p in sorted(big.iterdir()):
            s3.upload_file(str(p), "bench", f"boto3-{run}/{p.name}")

    def boto_download() -> None:
        for p in sorted(big.iterdir()):
            s3.download_file("bench", f"boto3-2/{p.name}", str(down / p.name))

    down = tmp / "boto3-down"
    down.mkdir()
    boto_up = min(timed(lambda: boto_upload(1)), timed(lambda: boto_upload(2)))
    boto_down = min(timed(boto_download) for _ in range(2))
    clear(s3, "boto3-")

    ups, pulls = [], []
    for i in (1, 2):  # v1, then v2 of the same files (new objects); a fresh cache for each first pull
        ups.append(
            run([*mlreg, "register", "big", "--from-dir", str(big), "--store", "s3://bench/models"], repo, env)[0]
        )
        took, out = run(
            [*mlreg, "pull", f"big/{i}", "-o", str(tmp / f"pulled-{i}"), "--json"],
            repo,
            dict(env, MLREG_CACHE=str(tmp / f"cache-{i}")),
        )
        pulls.append(took)
    up, pull, first = min(ups), min(pulls), json.loads(out)
    walls = []
    for _ in range(5):
        took, out = run(
            [*mlreg, "pull", "big/2", "-o", str(tmp / "pulled-2"), "--json"],
            repo,
            dict(env, MLREG_CACHE=str(tmp / "cache-2")),
        )
        walls.append(took)
    again, second = sorted(walls)[2], json.loads(out)
    helps = sorted(run([*mlreg, "--help"], repo, env)[0] for _ in range(5))
    for label, boto_s, ours in (("upload", boto_up, up), ("download", boto_down, pull)):
        ratio = boto_s / ours
        passed = ratio >= 0.9
        ok &= passed
        rows.append(
            (
                f"{gib:g} GiB, {count} files: {label}",
                f"boto3 {size / MIB / boto_s:.0f} MiB/s, mlreg {size / MIB / ours:.0f} MiB/s = {ratio:.2f}x",
                ">= 0.9x",
                passed,
            )
        )
    passed = second["downloaded_bytes"] == 0 and again < 0.3
    ok &= passed
    rows.append(
        (
            "second pull (CLI, wall, median of 5)",
            f"{again:.3f} s, {second['downloaded_bytes']} bytes (mlreg --help: {helps[2]:.3f} s)",
            "0 B, < 0.3 s",
            passed,
        )
    )

    small = tmp / "small"
    small.mkdir()
    for i in range(200):
        (small / f"f{i:03d}.txt").write_text(f"file {i}\n" * 20)
    took, _ = run([*mlreg, "register", "small", "--from-dir", str(small), "--store", "s3://bench/models"], repo, env)
    passed = took < 5
    ok &= passed
    rows.append(("register 200 small files (CLI, wall)", f"{took:.2f} s", "< 5 s", passed))

    print(
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; first pull moved "
        f"{first['downloaded_bytes']} bytes"
    )
    print(f"{'case':<40} {'measured':<55} {'target':<14} result")
    for case, measured, target, passed in rows:
        print(f"{case:<40} {measured:<55} {target:<14} {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
