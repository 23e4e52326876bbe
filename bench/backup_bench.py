"""Benchmark: `backup create` / `backup restore` against `pg_dump -Fc` / `pg_restore`, same run.

Generates a PostgreSQL database ``railops_backup_bench`` of at least 500 MB of mixed data
(text, numbers, timestamps, JSON), then measures, side by side:

- wall time of ``manage.py backup create`` vs ``pg_dump -Fc -f FILE``;
- archive size vs the ``-Fc`` file;
- peak RSS of the Python process doing the backup (ru_maxrss of that process only);
- wall time of railops' restore (checksum pass + streamed ``pg_restore --single-transaction``)
  vs ``pg_restore --single-transaction --clean --if-exists`` of the ``-Fc`` file;
- for reference, ``backup create`` with ``BACKUP_LAYOUT=plain`` (zstd over pg_dump's own
  stream, without the column layout).

The database is dropped afterwards. Run from the repository root:

    python bench/backup_bench.py [--rows 2600000] [--rounds 3] [--keep]
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

GENERATE = """
CREATE TABLE customers (
  id bigint PRIMARY KEY, username text NOT NULL, email text NOT NULL, city text,
  joined_at timestamptz NOT NULL, balance numeric(12, 2), profile jsonb
);
INSERT INTO customers
SELECT g, 'customer_' || g, 'user' || g || '@example.com',
  (ARRAY['Seoul','Busan','Berlin','Paris','Lisbon','Austin','Osaka','Lima','Oslo','Cairo'])
    [1 + g % 10],
  now() - (g % 2000) * interval '1 day' - (g % 86400) * interval '1 second',
  round((random() * 10000)::numeric, 2),
  jsonb_build_object('plan', (ARRAY['free','pro','team'])[1 + g % 3],
                     'newsletter', g % 2 = 0, 'score', (random() * 100)::int)
FROM generate_series(1, {customers}) g;

CREATE TABLE events (
  id bigint PRIMARY KEY, customer_id bigint NOT NULL, kind text NOT NULL,
  payload jsonb NOT NULL, session text NOT NULL, note text, amount numeric(10, 2),
  created_at timestamptz NOT NULL
);
INSERT INTO events
SELECT g,
  -- a session is ~25 events of one customer, in time order (as an app writes them)
  1 + ((g / 25) * 7919) % {customers},
  (ARRAY['view','click','purchase','refund','login','logout','search'])[1 + (random() * 6)::int],
  jsonb_build_object(
    'page', '/products/' || (random() * 5000)::int,
    'ref', (ARRAY['google','direct','newsletter','twitter','partner'])[1 + (random() * 4)::int],
    'ms', (random() * 2000)::int,
    'ua', (ARRAY['Mozilla/5.0 (X11; Linux x86_64)','Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)',
                 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)'])[1 + (random() * 2)::int],
    'tags', jsonb_build_array('t' || (random() * 50)::int, 't' || (random() * 50)::int)),
  md5((g / 25)::text),
  CASE WHEN g % 3 = 0 THEN NULL ELSE
    (ARRAY['Delivered on time.','Customer asked about the return policy.',
           'Payment retried after a card decline.','Coupon SPRING applied at checkout.',
           'Gift wrap requested; note printed on the invoice.'])[1 + (random() * 4)::int]
    || ' Ref ' || (random() * 100000)::int END,
  round((random() * 500)::numeric, 2),
  timestamptz '2025-01-01 00:00:00+00' + g * interval '10 seconds'
    + (random() * 9)::int * interval '1 second'
FROM generate_series(1, {events}) g;
CREATE INDEX events_customer ON events (customer_id);
CREATE INDEX events_created ON events (created_at);
ANALYZE;
"""


def psql(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def generate(events: int) -> int:
    psql(f"{BASE}/postgres", f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    psql(f"{BASE}/postgres", f'CREATE DATABASE "{DB}"')
    sql = GENERATE.format(customers=events // 10, events=events)
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
    out = {{}}
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
        key: statistics.mean(float(r[key]) for r in runs) for key in ("seconds", "process_seconds")
    }
    out["peak_rss_mb"] = max(float(r["peak_rss_mb"]) for r in runs)
    if "bytes" in runs[0]:
        out["bytes"] = max(float(r["bytes"]) for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_600_000, help="rows in the events table")
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
        size = generate(args.rows)
        print(f"generated {DB}: {size / 1e6:,.0f} MB in {time.monotonic() - started:.0f}s")
        if size < 500e6:
            print("warning: below 500 MB; raise --rows")
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
            # alternate the two restores so neither always runs after the other's WAL
            pg_restore_times, ours = [], []
            for _ in range(args.rounds):
                pg_restore_times.append(timed(restore_argv))
                ours.append(railops("restore", backups, args.level, name))
            pg_restore_s = statistics.mean(pg_restore_times)
            restored = mean_of(ours)
            fc_bytes = fc.stat().st_size
        rows = [
            ("database size", f"{size / 1e6:,.0f} MB", "", ""),
            (
                "dump wall time",
                f"{created['process_seconds']:.1f} s (create() {created['seconds']:.1f} s)",
                f"{pg_dump_s:.1f} s",
                f"{created['process_seconds'] / pg_dump_s:.2f}x (target <= 0.9x)",
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
                "restore wall time",
                f"{restored['process_seconds']:.1f} s (restore() {restored['seconds']:.1f} s)",
                f"{pg_restore_s:.1f} s",
                f"{restored['process_seconds'] / pg_restore_s:.2f}x (target <= 1.1x)",
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
