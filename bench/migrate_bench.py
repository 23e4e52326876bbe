"""Readers' worst latency while an ALTER waits behind a long transaction: migrate vs safe_migrate.

One session opens a transaction that reads ``locksafe_item`` and holds it for ``--hold`` seconds.
Meanwhile a reader loop queries the table, and the migration ``locksafe.0002`` (an ALTER TABLE
that needs an ACCESS EXCLUSIVE lock) runs, first with plain ``migrate``, then with
``safe_migrate`` (lock_timeout + retries), in the same run against a scratch PostgreSQL
database. Under plain ``migrate`` the ALTER queues behind the blocker and every reader queues
behind the ALTER, so readers wait for the whole blocker.

    python bench/migrate_bench.py [--hold 5] [--lock-timeout-ms 500] [--rounds 2]

Needs PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres), like the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "example_project")]
SCRATCH = "railops_migrate_bench"
BASE = os.environ.get("RAILOPS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{BASE}/postgres", autocommit=True) as conn:
        conn.execute(sql)


class Blocker(threading.Thread):
    def __init__(self, url: str, hold_s: float) -> None:
        super().__init__(daemon=True)
        self.url, self.hold_s = url, hold_s
        self.holding = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM locksafe_item")
            self.holding.set()
            time.sleep(self.hold_s)
            conn.execute("COMMIT")


class Reader(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute("SELECT count(*) FROM locksafe_item")
                self.latencies.append(time.perf_counter() - started)
                time.sleep(0.01)


def one_round(mode: str, url: str, hold_s: float, lock_timeout_ms: int) -> dict[str, float]:
    from django.core.management import call_command
    from django.db import connections

    from railops_django import migrate

    call_command("migrate", "locksafe", "0001", verbosity=0)
    connections.close_all()
    blocker, reader = Blocker(url, hold_s), Reader(url)
    blocker.start()
    blocker.holding.wait(10)
    reader.start()
    time.sleep(0.2)
    started = time.perf_counter()
    if mode == "migrate":
        call_command("migrate", "locksafe", "0002", verbosity=0)
    else:
        report = migrate.run(
            "default", "locksafe", lock_timeout_ms=lock_timeout_ms, retries=20, backup=False
        )
        assert report.exit_code == 0, report.as_dict()["findings"]
    took = time.perf_counter() - started
    time.sleep(0.2)
    reader.stop.set()
    reader.join()
    blocker.join()
    connections.close_all()
    return {
        "worst_s": max(reader.latencies),
        "p50_ms": statistics.median(reader.latencies) * 1000,
        "reads": len(reader.latencies),
        "migration_s": took,
    }


def fresh_database_overhead(rounds: int) -> dict[str, float]:
    """Seconds to migrate a fresh database (every example_project migration), median of rounds."""
    from django.core.management import call_command
    from django.db import connections

    from railops_django import migrate

    times: dict[str, list[float]] = {"migrate": [], "safe_migrate": []}
    for _ in range(rounds):
        for mode in times:
            for app in (
                "locksafe",
                "railops_django",
                "sessions",
                "orders",
                "shop",
                "admin",
                "auth",
                "contenttypes",
            ):
                call_command("migrate", app, "zero", verbosity=0)
            connections.close_all()
            started = time.perf_counter()
            if mode == "migrate":
                call_command("migrate", verbosity=0)
            else:
                report = migrate.run("default", backup=False)
                assert report.exit_code == 0, report.as_dict()["findings"]
            times[mode].append(time.perf_counter() - started)
    return {mode: statistics.median(values) for mode, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=5.0, help="blocker seconds")
    parser.add_argument("--lock-timeout-ms", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    _admin(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{SCRATCH}"')
    url = f"{BASE}/{SCRATCH}"
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="bench.settings_migrate",
        RAILOPS_BACKUP_DIR=str(Path("/tmp") / f"{SCRATCH}-backups"),
    )
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        results: dict[str, list[dict[str, float]]] = {"migrate": [], "safe_migrate": []}
        for _ in range(args.rounds):
            for mode in results:
                results[mode].append(one_round(mode, url, args.hold, args.lock_timeout_ms))
        print(
            f"blocker holds a read transaction for {args.hold:g}s; "
            f"safe_migrate lock_timeout {args.lock_timeout_ms} ms; {args.rounds} rounds each"
        )
        print(f"{'tool':<14}{'worst reader wait':>20}{'median read':>14}{'migration took':>17}")
        worst = {}
        for mode, rounds in results.items():
            worst[mode] = max(r["worst_s"] for r in rounds)
            p50 = statistics.median(r["p50_ms"] for r in rounds)
            took = statistics.median(r["migration_s"] for r in rounds)
            print(f"{mode:<14}{worst[mode]:>18.2f} s{p50:>11.1f} ms{took:>15.2f} s")
        overhead = fresh_database_overhead(args.rounds)
        print(
            f"fresh database, every migration: migrate {overhead['migrate']:.2f} s, "
            f"safe_migrate {overhead['safe_migrate']:.2f} s (lock, lint, SQL, rollback plan, "
            f"post-check): {overhead['safe_migrate'] / overhead['migrate']:.2f}x"
        )
        ratio = worst["migrate"] / worst["safe_migrate"]
        bound = args.lock_timeout_ms / 1000 + 0.5
        print(
            f"readers' worst wait: safe_migrate {worst['safe_migrate']:.2f} s "
            f"(bound {bound:.2f} s) vs migrate {worst['migrate']:.2f} s: {ratio:.1f}x shorter"
        )
    finally:
        from django.db import connections

        connections.close_all()
        _admin(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')


if __name__ == "__main__":
    main()
