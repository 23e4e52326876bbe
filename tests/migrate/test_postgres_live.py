"""PostgreSQL behaviour that needs other live sessions: lock safety, pre-flight, replicas."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections

from railops_django import migrate
from railops_django.db.locks import pg_conninfo
from tests.utils import EXAMPLE, ROOT

pytestmark = pytest.mark.postgres


def _connect() -> psycopg.Connection:
    params = pg_conninfo("default")
    params.pop("conninfo", None)
    return psycopg.connect(autocommit=True, **params)


class Blocker(threading.Thread):
    """A session whose open transaction has read the table: DDL on it must wait."""

    def __init__(self, table: str, hold_s: float) -> None:
        super().__init__(daemon=True)
        self.table, self.hold_s = table, hold_s
        self.holding = threading.Event()

    def run(self) -> None:
        with _connect() as conn:
            conn.execute("BEGIN")
            conn.execute(f"SELECT count(*) FROM {self.table}")
            self.holding.set()
            time.sleep(self.hold_s)
            conn.execute("COMMIT")


class Reader(threading.Thread):
    """Reads the table in a loop and records the worst latency."""

    def __init__(self, table: str) -> None:
        super().__init__(daemon=True)
        self.table = table
        self.stop = threading.Event()
        self.worst_s = 0.0
        self.reads = 0

    def run(self) -> None:
        with _connect() as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute(f"SELECT count(*) FROM {self.table}")
                self.worst_s = max(self.worst_s, time.perf_counter() - started)
                self.reads += 1
                time.sleep(0.02)


def test_lock_safety__blocker_holds_table__readers_wait_at_most_lock_timeout(migrate_apps):
    migrate_apps("locksafe")
    call_command("migrate", "locksafe", "0001", verbosity=0)
    lock_timeout_ms = 300
    blocker, reader = Blocker("locksafe_item", hold_s=2.5), Reader("locksafe_item")
    blocker.start()
    assert blocker.holding.wait(5)
    reader.start()
    try:
        report = migrate.run(
            "default", "locksafe", lock_timeout_ms=lock_timeout_ms, retries=10, backup=False
        )
    finally:
        reader.stop.set()
        reader.join(5)
        blocker.join(10)
        connections.close_all()
    payload = report.as_dict()
    assert payload["exit_code"] == 0, payload["findings"]
    [timing] = payload["timings"]
    assert timing["status"] == "applied" and timing["attempts"] >= 2
    assert timing["waits"] and all(w["reason"] == "lock_timeout" for w in timing["waits"])
    assert "migrate.apply.lock_waits" in [f["id"] for f in payload["findings"]]
    assert reader.reads > 10
    assert reader.worst_s <= lock_timeout_ms / 1000 + 0.5, reader.worst_s
    assert migrate.current_state()["locksafe"] == "0002_item_flag"


def test_preflight__nulls_duplicates_lock_holder_invalid_index__reported(migrate_apps):
    migrate_apps("preflightcase")
    call_command("migrate", "preflightcase", "0001", verbosity=0)
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO preflightcase_thing (name, code) VALUES (NULL, 'a'), ('x', 'a')"
        )
    with _connect() as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY preflight_leftover ON preflightcase_thing (code)"
        )
    blocker = Blocker("preflightcase_thing", hold_s=3)
    blocker.start()
    assert blocker.holding.wait(5)
    try:
        report = migrate.run(
            "default",
            "preflightcase",
            allow_unsafe=["set_not_null", "add_unique"],
            backup=False,
            dry_run=True,
        )
    finally:
        blocker.join(10)
        with connections["default"].cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS preflight_leftover")
    payload = report.as_dict()
    ids = [f["id"] for f in payload["findings"]]
    assert {
        "migrate.preflight.nulls",
        "migrate.preflight.duplicates",
        "migrate.preflight.lock_holder",
        "migrate.preflight.invalid_index",
        "migrate.blocked",
    } <= set(ids)
    assert payload["exit_code"] == 2
    [size] = payload["preflight"]["tables"]
    assert size["table"] == "preflightcase_thing" and size["bytes"] > 0
    assert migrate.current_state()["preflightcase"] == "0001_initial"


def test_replicas__three_processes_at_once__one_applies_all_exit_0(tmp_path):
    name = "railops_migrate_t_replicas"
    admin = _connect()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    sd = connections["default"].settings_dict
    url = f"postgres://{sd['USER'] or 'postgres'}@{sd['HOST'] or '127.0.0.1'}:{sd['PORT'] or 5432}/{name}"
    env = {
        "DATABASE_URL": url,
        "RAILOPS_BACKUP_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
    }
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "manage.py", "safe_migrate", "--noinput", "--format", "json"],
                cwd=EXAMPLE,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        results = [(p.communicate(timeout=60), p.returncode) for p in procs]
        assert [code for _, code in results] == [0, 0, 0], [err for (_, err), _ in results]
        outcomes = sorted(
            next(
                f["id"]
                for f in json.loads(out)["findings"]
                if f["id"] in ("migrate.applied", "migrate.already_migrated")
            )
            for (out, _), _ in results
        )
        assert outcomes == ["migrate.already_migrated"] * 2 + ["migrate.applied"]
        with psycopg.connect(url) as conn:
            dups = conn.execute(
                "SELECT count(*) FROM (SELECT app, name FROM django_migrations "
                "GROUP BY 1, 2 HAVING count(*) > 1) d"
            ).fetchone()
        assert dups == (0,)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_create_index_concurrently__under_the_advisory_lock__no_deadlock(migrate_apps):
    migrate_apps("concurrent")
    call_command("migrate", "concurrent", "0001", verbosity=0)
    report = migrate.run("default", "concurrent", backup=False, lock_timeout_ms=1000)
    payload = report.as_dict()
    assert payload["exit_code"] == 0, payload["findings"]
    assert not [f for f in payload["findings"] if f["id"].startswith("migrate.lint.")]
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE i.relname = 'concurrent_row_code_idx'"
        )
        assert cursor.fetchone() == (True,)


def test_create_index_concurrently_fails__a_warning_not_advice_to_restore_a_backup(migrate_apps):
    # A non-atomic migration of one index operation keeps at most an INVALID index: restoring
    # the pre-run backup would lose every write since, for no data to recover.
    migrate_apps("concurrent")
    call_command("migrate", "concurrent", "0001", verbosity=0)
    with connections["default"].cursor() as cursor:
        cursor.execute("CREATE INDEX concurrent_row_code_idx ON concurrent_row (id)")
    try:
        payload = migrate.run("default", "concurrent", backup=False).as_dict()
        ids = [f["id"] for f in payload["findings"]]
        assert payload["exit_code"] == 2, payload["findings"]
        assert "migrate.apply.partial" in ids
        assert "migrate.rollback.data_not_restored" not in ids
    finally:
        with connections["default"].cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS concurrent_row_code_idx")
