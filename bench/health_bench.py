"""db_health cost: 5,000 tables + 10,000 indexes against 10 tables, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/health_bench.py

Creates two scratch databases (railops_health_bench_big, railops_health_bench_small), runs
``manage.py db_health --format json`` on each as a user would (fresh process, alternating, median
of ``--rounds``), prints the wall-time ratio, the database-time ratio and the number of queries
each run issued (they must be equal), then drops both databases.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
BIG, SMALL = "railops_health_bench_big", "railops_health_bench_small"
BATCH = 250  # tables per transaction (each takes several locks until commit)


def _url(base: str, dbname: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def _create(admin_url: str, name: str, tables: int) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_url(admin_url, name), autocommit=True) as conn:
        for start in range(1, tables + 1, BATCH):
            end = min(start + BATCH - 1, tables)
            conn.execute(
                f"DO $$ BEGIN FOR i IN {start}..{end} LOOP "
                "EXECUTE format('CREATE TABLE t%s (id bigserial PRIMARY KEY, a int, b text)', i); "
                "EXECUTE format('CREATE INDEX ON t%s (a)', i); END LOOP; END $$"
            )
        conn.execute("ANALYZE")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'),"
            " (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public')"
        ).fetchone()
    print(f"  {name}: {counts[0]:,} tables, {counts[1]:,} indexes", flush=True)


def _drop(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(url: str) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": f"{ROOT}{os.pathsep}{EXAMPLE}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "db_health", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=EXAMPLE,
        timeout=120,
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"db_health failed ({proc.returncode}): {proc.stderr[-1000:]}")
    cost = json.loads(proc.stdout)["cost"]
    return wall, cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=5000)
    parser.add_argument("--small-tables", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    admin_url = _url(base, "postgres")
    print(f"db_health bench: {args.tables:,} tables vs {args.small_tables} tables")
    try:
        _create(admin_url, SMALL, args.small_tables)
        _create(admin_url, BIG, args.tables)
        runs: dict[str, list[tuple[float, dict[str, float]]]] = {SMALL: [], BIG: []}
        _run(_url(base, SMALL))  # warm up imports and the page cache
        for _ in range(args.rounds):
            for name in (SMALL, BIG):
                runs[name].append(_run(_url(base, name)))
        wall = {n: statistics.median(w for w, _ in r) for n, r in runs.items()}
        dbs = {n: statistics.median(c["database_seconds"] for _, c in r) for n, r in runs.items()}
        queries = {n: sorted({int(c["queries"]) for _, c in r}) for n, r in runs.items()}
    finally:
        _drop(admin_url, SMALL)
        _drop(admin_url, BIG)
    print(f"  wall time (median of {args.rounds}, whole manage.py process):")
    print(f"    {args.small_tables:>5} tables: {wall[SMALL]:.3f} s")
    print(f"    {args.tables:>5} tables: {wall[BIG]:.3f} s")
    print(f"    ratio: {wall[BIG] / wall[SMALL]:.2f}x  (must be <= 2)")
    print("  database time (the health queries only):")
    print(f"    {dbs[SMALL]:.3f} s vs {dbs[BIG]:.3f} s, ratio {dbs[BIG] / dbs[SMALL]:.2f}x")
    print(f"  queries issued: {queries[SMALL]} vs {queries[BIG]} (must be equal)")
    ok = wall[BIG] / wall[SMALL] <= 2 and queries[SMALL] == queries[BIG]
    print("  result:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
