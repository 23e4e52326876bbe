"""Planning cost against applying: Wagtail's whole history from an empty PostgreSQL database.

A fresh ``wagtail start`` project in a temporary directory (railops_django added to
INSTALLED_APPS, DATABASE_URL pointing at scratch databases ``railops_lint_bench_*``), measured
side by side in one run, each command a subprocess timed by its wall clock:

- plain ``manage.py migrate`` (the baseline);
- ``manage.py safe_migrate --dry-run`` (planning: lint, pre-flight, rollback plan);
- ``manage.py safe_migrate --no-backup`` (planning plus applying), and with its default
  pre-migration backup.

Targets: dry run <= 0.25x migrate, real safe_migrate <= 1.3x migrate.

    python bench/migrate_plan_bench.py [--rounds 3]

Needs PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) and wagtail installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = os.environ.get("RAILOPS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
SCRATCH = "railops_lint_bench"
SETTINGS_TAIL = """
import os
import dj_database_url
INSTALLED_APPS = [*INSTALLED_APPS, "railops_django"]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
RAILOPS = {"BACKUP_DIR": os.environ["RAILOPS_BENCH_BACKUPS"]}
"""


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{BASE}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _project(where: Path) -> Path:
    where.mkdir()
    wagtail = Path(sys.executable).with_name("wagtail")
    subprocess.run([str(wagtail), "start", "mysite", str(where)], check=True, capture_output=True)
    with open(where / "mysite" / "settings" / "base.py", "a") as fh:
        fh.write(SETTINGS_TAIL)
    return where


def _timed(project: Path, db: str, args: list[str], backups: Path) -> float:
    _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{db}"')
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{project}",
        "DJANGO_SETTINGS_MODULE": "mysite.settings.dev",
        "DATABASE_URL": f"{BASE}/{db}",
        "RAILOPS_BENCH_BACKUPS": str(backups),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-800:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    runs = {
        "migrate": ["migrate", "--noinput", "-v0"],
        "safe_migrate --dry-run": ["safe_migrate", "--dry-run", "--noinput", "--format", "json"],
        "safe_migrate --no-backup": ["safe_migrate", "--noinput", "--no-backup"],
        "safe_migrate (with backup)": ["safe_migrate", "--noinput"],
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    tmp = Path(tempfile.mkdtemp(prefix="railops-plan-bench-"))
    try:
        project = _project(tmp / "site")
        for round_ in range(options.rounds):
            for i, (name, args) in enumerate(runs.items()):  # interleaved: same machine load
                db = f"{SCRATCH}_{i}"
                times[name].append(_timed(project, db, args, tmp / f"backups-{round_}-{i}"))
    finally:
        for i in range(len(runs)):
            _admin(f'DROP DATABASE IF EXISTS "{SCRATCH}_{i}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(times["migrate"])
    print(f"Wagtail history from an empty PostgreSQL database, {options.rounds} round(s), median")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:28s} {median:6.2f} s   {median / base:5.2f}x migrate")
    dry = statistics.median(times["safe_migrate --dry-run"]) / base
    real = statistics.median(times["safe_migrate --no-backup"]) / base
    print(
        f"targets: dry run <= 0.25x ({'met' if dry <= 0.25 else 'MISSED'}: {dry:.2f}x), "
        f"real <= 1.3x ({'met' if real <= 1.3 else 'MISSED'}: {real:.2f}x)"
    )


if __name__ == "__main__":
    main()
