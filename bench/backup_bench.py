"""Benchmark: `backup create` / `backup restore` against `pg_dump -Fc` / `pg_restore`, same run.

Generates a PostgreSQL database ``railops_backup_bench`` of about 600 MB of a shop's data
(``backup_bench_data.sql``: users with nested JSONB profiles, a 50,000-SKU catalogue, orders
snapshotting it by power-law popularity, web events; see bench/README.md#backup), then
measures, side by side:

- wall time of ``manage.py backup create`` vs ``pg_dump -Fc -f FILE``;
- archive size vs the ``-Fc`` file;
- peak RSS of the Python process doing the backup (ru_maxrss of that process only);
- wall time of railops' restore (checksum pass, streamed ``pg_restore --single-transaction``,
  ANALYZE) vs ``pg_restore --single-transaction --clean --if-exists`` of the ``-Fc`` file,
  and vs that plus the ``ANALYZE`` a user would run after it;
- for reference, ``backup create`` with ``BACKUP_LAYOUT=plain`` (zstd over pg_dump's own
  stream, without the column layout).

The database is dropped afterwards. Run from the repository root:

    python bench/backup_bench.py [--scale 1.0] [--rounds 3] [--keep]
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

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
DB = "railops_backup_bench"
BASE = os.environ.get("RAILOPS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
URL = f"{BASE}/{DB}"

DATA_SQL = Path(__file__).with_name("backup_bench_data.sql")


def psql(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


COUNTS = {"users": 100_000, "orders": 200_000, "events": 900_000}  # at --scale 1.0


def data_sql(scale: float) -> str:
    """The generator's SQL with its row counts for ``scale``."""
    sql = DATA_SQL.read_text()
    for key, count in COUNTS.items():
        sql = sql.replace("{" + key + "}", str(max(10, int(count * scale))))
    return sql


def generate(scale: float) -> int:
    psql(f"{BASE}/postgres", f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    psql(f"{BASE}/postgres", f'CREATE DATABASE "{DB}"')
    sql = data_sql(scale)
    subprocess.run(["psql", URL, "-qX", "-v", "ON_ERROR_STOP=1"], input=sql, text=True, check=True)
    return int(psql(URL, "SELECT pg_database_size(current_database())"))


# The railops side runs in a child Python (the example project's settings) that reports its
# own wall time and its own peak RSS (ru_maxrss of that process, not of pg_dump/pg_restore).
CHILD = """
import json, os, resource, sys, time
sys.path[:0] = [{root!r}, {example!r}]
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from railops_django import backup
started = time.monotonic()
if sys.argv[1] == "create":
    result = backup.create("default", "manual")
    out = {{"name": result.name, "bytes": result.manifest["dump"]["bytes"]}}
else:
    report = backup.restore(sys.argv[2], "default", force=True, safety_backup=False)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    out = {{"analyze_seconds": report.extras["restore"]["analyze"]["seconds"]}}
out["seconds"] = time.monotonic() - started
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def railops(
    action: str, backup_dir: str, level: int, *args: str, layout: str = "columns"
) -> dict[str, float]:
    env = {
        **os.environ,
        "DATABASE_URL": URL,
        "RAILOPS_BACKUP_DIR": backup_dir,
        "RAILOPS_BACKUP_COMPRESSION_LEVEL": str(level),
        "RAILOPS_BACKUP_LAYOUT": layout,
        "CONN_MAX_AGE": "0",
    }
    script = CHILD.format(root=str(ROOT), example=str(EXAMPLE))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script, action, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"railops {action} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.monotonic() - started
    return out


def timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True)
    return time.monotonic() - started


def mean_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Times averaged over the rounds; sizes and peak RSS as their maximum."""
    out = {
        key: statistics.mean(float(r[key]) for r in runs)
        for key in ("seconds", "process_seconds", "analyze_seconds")
        if key in runs[0]
    }
    out["peak_rss_mb"] = max(float(r["peak_rss_mb"]) for r in runs)
    if "bytes" in runs[0]:
        out["bytes"] = max(float(r["bytes"]) for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0: 100k users, 200k orders, 900k events"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--level", type=int, default=3, help="zstd level (BACKUP_COMPRESSION_LEVEL)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each dump and restore, alternated"
    )
    args = parser.parse_args()
    try:
        started = time.monotonic()
        size = generate(args.scale)
        print(f"generated {DB}: {size / 1e6:,.0f} MB in {time.monotonic() - started:.0f}s")
        if size < 500e6:
            print("warning: below 500 MB; raise --scale")
        with tempfile.TemporaryDirectory(prefix="railops-bench-") as tmp:
            fc = Path(tmp) / "baseline.dump"
            backups = str(Path(tmp) / "backups")
            # alternate the dumps so that none always runs first, on a cold or a warm cache;
            # the plain layout (zstd over pg_dump's own stream) is shown for reference
            pg_dump_times: list[float] = []
            creates: list[dict[str, float]] = []
            plains: list[dict[str, float]] = []
            for _ in range(args.rounds):
                fc.unlink(missing_ok=True)
                pg_dump_times.append(timed(["pg_dump", "-Fc", "-d", URL, "-f", str(fc)]))
                creates.append(railops("create", backups, args.level))
                plain_dir = str(Path(tmp) / f"plain-{len(plains)}")
                plains.append(railops("create", plain_dir, args.level, layout="plain"))
                shutil.rmtree(plain_dir)
            pg_dump_s = statistics.mean(pg_dump_times)
            created, plain = mean_of(creates), mean_of(plains)
            name = str(creates[-1]["name"])
            restore_argv = [
                "pg_restore",
                "--single-transaction",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "-d",
                URL,
                str(fc),
            ]
            # alternate the two restores so neither always runs after the other's WAL; after
            # pg_restore, the ANALYZE a user would run for the same end state, timed apart
            pg_restore_times, analyze_times, ours = [], [], []
            for _ in range(args.rounds):
                pg_restore_times.append(timed(restore_argv))
                analyze_times.append(timed(["psql", URL, "-qAtX", "-c", "ANALYZE"]))
                ours.append(railops("restore", backups, args.level, name))
            pg_restore_s = statistics.mean(pg_restore_times)
            analyze_s = statistics.mean(analyze_times)
            restored = mean_of(ours)
            fc_bytes = fc.stat().st_size
        rows = [
            ("database size", f"{size / 1e6:,.0f} MB", "", ""),
            (
                "dump wall time",
                f"{created['process_seconds']:.1f} s (create() {created['seconds']:.1f} s)",
                f"{pg_dump_s:.1f} s",
                f"{created['process_seconds'] / pg_dump_s:.2f}x (target <= 0.7x)",
            ),
            (
                "archive size",
                f"{created['bytes'] / 1e6:,.1f} MB",
                f"{fc_bytes / 1e6:,.1f} MB",
                f"{created['bytes'] / fc_bytes:.2f}x (target <= 0.9x)",
            ),
            (
                "peak RSS, Python (create)",
                f"{created['peak_rss_mb']:.0f} MB",
                "",
                "target <= 100 MB",
            ),
            (
                "restore wall time, with ANALYZE",
                f"{restored['process_seconds']:.1f} s (restore() {restored['seconds']:.1f} s)",
                f"{pg_restore_s:.1f} s",
                f"{restored['process_seconds'] / pg_restore_s:.2f}x (target <= 1.0x)",
            ),
            (
                "  of which ANALYZE",
                f"{restored['analyze_seconds']:.1f} s",
                f"(ANALYZE after it: {analyze_s:.1f} s)",
                "",
            ),
            (
                "same end state: + ANALYZE",
                f"{restored['process_seconds']:.1f} s",
                f"{pg_restore_s + analyze_s:.1f} s",
                f"{restored['process_seconds'] / (pg_restore_s + analyze_s):.2f}x",
            ),
            (
                "peak RSS, Python (restore)",
                f"{restored['peak_rss_mb']:.0f} MB",
                "",
                "target <= 100 MB",
            ),
            (
                "reference: plain layout, time",
                f"{plain['process_seconds']:.1f} s",
                f"{pg_dump_s:.1f} s",
                f"{plain['process_seconds'] / pg_dump_s:.2f}x",
            ),
            (
                "reference: plain layout, size",
                f"{plain['bytes'] / 1e6:,.1f} MB",
                f"{fc_bytes / 1e6:,.1f} MB",
                f"{plain['bytes'] / fc_bytes:.2f}x",
            ),
        ]
        print(f"zstd level {args.level}; mean of {args.rounds} rounds, alternated")
        print(f"{'':32} {'railops backup':34} {'pg_dump -Fc / pg_restore':26} ratio")
        for row_name, ours_, theirs, ratio in rows:
            print(f"{row_name:32} {ours_:34} {theirs:26} {ratio}")
    finally:
        if not args.keep:
            psql(f"{BASE}/postgres", f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
