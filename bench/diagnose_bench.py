"""Benchmark railway_diagnose against `manage.py check --deploy`, measured in the same run.

    python bench/diagnose_bench.py [--runs 5]

Uses example_project with DATABASE_URL from the environment (a fresh SQLite file by default,
migrated first). Prints the median wall time of each command (a fresh process, as a user runs
them), the ratio, and the in-process duration railway_diagnose reports. Then it points
DATABASE_URL at a port that accepts TCP but never answers (RAILOPS_CONNECT_TIMEOUT=2) and at a
refused port, to show that an unreachable database costs at most the connect timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
CONNECT_TIMEOUT = 2


def manage(*args: str, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    full = {**os.environ, **env}
    full.pop("DJANGO_SETTINGS_MODULE", None)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=EXAMPLE,
        timeout=120,
        check=False,
    )
    return time.perf_counter() - started, proc


def median_of(
    runs: int, *args: str, env: dict[str, str]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    times, last = [], None
    for _ in range(runs):
        elapsed, last = manage(*args, env=env)
        times.append(elapsed)
    assert last is not None
    return statistics.median(times), last


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="railops_diagnose_bench_"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    env = {
        "DATABASE_URL": url,
        "RAILWAY_ENVIRONMENT_NAME": "production",
        "RAILWAY_PUBLIC_DOMAIN": "shop.up.railway.app",
        "SECRET_KEY": "bench-" + "k3y" * 20,
    }
    _, proc = manage("migrate", "--noinput", "-v0", env=env)
    if proc.returncode:
        print(proc.stderr[-2000:])
        return 1
    vendor = url.split(":", 1)[0]
    base, _ = median_of(args.runs, "check", "--deploy", env=env)
    diag, proc = median_of(args.runs, "railway_diagnose", "--format", "json", env=env)
    report = json.loads(proc.stdout)
    print(f"example_project on {vendor}, median of {args.runs} fresh processes each:")
    print(f"  manage.py check --deploy      {base:6.2f} s")
    print(
        f"  manage.py railway_diagnose    {diag:6.2f} s   status {report['status']}, "
        f"{len(report['findings'])} findings, in-process {report['duration_s']:.2f} s"
    )
    print(f"  ratio diagnose / check --deploy: {diag / base:.2f}x")

    with socket.socket() as listener:  # accepts TCP, never speaks PostgreSQL
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        silent = {
            **env,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/x",
            "RAILOPS_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        }
        hung, proc = manage("railway_diagnose", "--format", "json", env=silent)
    first = json.loads(proc.stdout)["findings"][0]["id"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    refused_env = {**env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free}/x"}
    refused, proc2 = manage("railway_diagnose", "--format", "json", env=refused_env)
    first2 = json.loads(proc2.stdout)["findings"][0]["id"]
    print(f"unreachable database (RAILOPS_CONNECT_TIMEOUT={CONNECT_TIMEOUT}):")
    print(
        f"  server never answers  {hung:6.2f} s  ({first}); {hung - diag:+.2f} s over the "
        f"healthy run, for a {CONNECT_TIMEOUT} s connect timeout (the database probes and the "
        "replay are skipped; the PostgreSQL driver is loaded)"
    )
    print(f"  connection refused    {refused:6.2f} s  ({first2})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
