"""db_health on a real PostgreSQL: each condition is produced for real, then its finding asserted.

Connections past 80 % / 95 % use a role with CONNECTION LIMIT 10 (the tightest limit is the one
that refuses first, and db_health reports it), so the test does not depend on how many
connections other users of the server hold.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from railops_django import health
from railops_django.db.postgres import health as pg_health
from railops_django.report import Severity

from .conftest import NOPRIV_ROLE, db_alias, finding, pg_connect

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _wait_for(admin, sql: str, params: list, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if admin.execute(sql, params).fetchone()[0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql} {params}")


def _in_thread(conn, sql: str) -> threading.Thread:
    def target() -> None:
        try:
            conn.execute(sql)
        except Exception:  # cancelled on purpose at the end of the test
            return

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_connections__role_limit_80_then_95_pct__warning_then_critical(nopriv_role):
    held = []
    try:
        with db_alias("health_role", USER=nopriv_role, PASSWORD="") as alias:
            held += [pg_connect(nopriv_role) for _ in range(7)]  # + the health session = 8/10
            report = health.run(alias, include_container=False)
            conn = finding(report, "health.pg.connections")
            assert conn.severity is Severity.WARNING, conn.detail
            assert conn.data["scope"] == "role" and conn.data["used"] == 8
            assert conn.data["limit"] == 10 and conn.data["value"] == 80.0
            assert conn.data["threshold"] == [80, 95]

            held += [pg_connect(nopriv_role) for _ in range(2)]  # 10/10
            report = health.run(alias, include_container=False)
            conn = finding(report, "health.pg.connections")
            assert conn.severity is Severity.CRITICAL and conn.data["value"] == 100.0
            assert "CONNECTION LIMIT of role" in conn.detail
    finally:
        for c in held:
            c.close()


def test_long_query__pg_sleep_6_in_another_connection__critical(admin):
    sleeper = pg_connect()
    pid = sleeper.info.backend_pid
    thread = _in_thread(sleeper, "SELECT pg_sleep(6)")
    try:
        _wait_for(
            admin,
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
            [pid],
        )
        time.sleep(5.2)
        report = health.run("default", include_container=False)
    finally:
        admin.execute("SELECT pg_cancel_backend(%s)", [pid])
        thread.join(5)
        sleeper.close()
    long_query = finding(report, "health.pg.long_query")
    assert long_query.severity is Severity.CRITICAL, long_query.title
    assert long_query.data["pid"] == pid and long_query.data["value"] > 5
    assert "pg_sleep" in long_query.detail and f"pg_cancel_backend({pid})" in long_query.fix
    assert report.exit_code == 2


def test_blocked_query__held_row_lock__chain_with_both_pids(admin):
    admin.execute("CREATE TABLE railops_health_lock (id int PRIMARY KEY, v int)")
    admin.execute("INSERT INTO railops_health_lock VALUES (1, 0)")
    holder, waiter = pg_connect(autocommit=False), pg_connect()
    try:
        holder.execute("UPDATE railops_health_lock SET v = v + 1 WHERE id = 1")
        thread = _in_thread(waiter, "UPDATE railops_health_lock SET v = v + 2 WHERE id = 1")
        wpid, hpid = waiter.info.backend_pid, holder.info.backend_pid
        _wait_for(
            admin,
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
            [wpid],
        )
        report = health.run("default", include_container=False)
        holder.rollback()
        thread.join(5)
    finally:
        holder.close()
        waiter.close()
        admin.execute("DROP TABLE railops_health_lock")
    blocked = finding(report, "health.pg.blocked")
    assert blocked.severity >= Severity.INFO
    chain = next(c for c in blocked.data["chains"] if c["pid"] == wpid)
    assert chain["blocked_by"] == [hpid] and chain["chain"][:2] == [wpid, hpid]
    assert chain["blockers"][0]["state"] == "idle in transaction"
    assert f"pid {wpid} waits" in blocked.detail and str(hpid) in blocked.fix
    idle = finding(report, "health.pg.idle_in_transaction")
    assert idle.data["pid"] == hpid


def test_sequence__at_90_pct_of_its_maximum__critical(admin):
    admin.execute("CREATE SEQUENCE railops_health_seq AS integer MAXVALUE 1000")
    admin.execute("SELECT setval('railops_health_seq', 900)")
    try:
        report = health.run("default", include_container=False)
    finally:
        admin.execute("DROP SEQUENCE railops_health_seq")
    seq = finding(report, "health.pg.sequence")
    assert seq.severity is Severity.CRITICAL and seq.data["value"] == 90.0
    assert seq.data["labels"] == {"sequence": "public.railops_health_seq"}
    assert "ALTER SEQUENCE public.railops_health_seq AS bigint" in seq.fix


def test_invalid_index__failed_create_index_concurrently__warning(admin):
    import psycopg

    admin.execute("CREATE TABLE railops_health_dup (v int)")
    admin.execute("INSERT INTO railops_health_dup VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        admin.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY railops_health_dup_v ON railops_health_dup (v)"
        )
    try:
        report = health.run("default", include_container=False)
    finally:
        admin.execute("DROP TABLE railops_health_dup")
    invalid = finding(report, "health.pg.invalid_index")
    assert invalid.severity is Severity.WARNING
    assert invalid.data["indexes"] == ["public.railops_health_dup_v"]
    assert "DROP INDEX CONCURRENTLY public.railops_health_dup_v" in invalid.fix


def test_duplicate_and_largest__real_tables__reported(admin):
    admin.execute("CREATE TABLE railops_health_big (id int, t text)")
    admin.execute(
        "INSERT INTO railops_health_big SELECT g, repeat('x', 3000) FROM generate_series(1, 300) g"
    )
    admin.execute("CREATE INDEX railops_health_big_a ON railops_health_big (id)")
    admin.execute("CREATE INDEX railops_health_big_b ON railops_health_big (id)")
    admin.execute("ANALYZE railops_health_big")
    try:
        report = health.run("default", include_container=False)
    finally:
        admin.execute("DROP TABLE railops_health_big")
    dup = finding(report, "health.pg.duplicate_index")
    assert ["public.railops_health_big_a", "public.railops_health_big_b"] in dup.data["sets"]
    top = report.extras["largest_tables"][0]
    assert top["table"] == "railops_health_big" and top["rows_estimate"] == 300
    assert top["toast_bytes"] > 0 and top["index_bytes"] > 0 and top["table_bytes"] > 0


def test_nopriv_role__whole_run__info_naming_pg_monitor_and_no_exception(nopriv_role):
    with db_alias("health_nopriv", USER=nopriv_role, PASSWORD="") as alias:
        report = health.run(alias, include_container=False)
    priv = finding(report, "health.pg.privileges")
    assert priv.severity is Severity.INFO and f"GRANT pg_monitor TO {NOPRIV_ROLE}" in priv.fix
    assert not any(f.id.startswith("health.connect") for f in report.findings)
    for f in report.findings:
        if f.id.startswith("health.pg.unavailable."):
            assert f.severity is Severity.INFO and "pg_monitor" in f.fix
    # the core metrics still came through
    for fid in ("health.pg.connections", "health.pg.long_query", "health.pg.wraparound"):
        finding(report, fid)
    assert finding(report, "health.pg.superuser").severity is Severity.OK


def test_cost__150_more_tables__same_number_of_queries(admin):
    before = health.run("default", include_container=False).extras["cost"]["queries"]
    admin.execute("CREATE SCHEMA railops_health_cost")
    try:
        admin.execute(
            "DO $$ BEGIN FOR i IN 1..150 LOOP EXECUTE format("
            "'CREATE TABLE railops_health_cost.t%s (id bigserial PRIMARY KEY, a int)', i);"
            " EXECUTE format('CREATE INDEX ON railops_health_cost.t%s (a)', i); END LOOP; END $$"
        )
        report = health.run("default", include_container=False)
    finally:
        admin.execute("DROP SCHEMA railops_health_cost CASCADE")
    assert report.extras["cost"]["queries"] == before
    assert len(report.extras["largest_tables"]) == 10


def test_run_queries__read_only_and_timeouts_do_not_leak_into_the_app_connection():
    results, errors = pg_health.run_queries("default")
    assert not errors and results["facts"][0]["db"]
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
        cursor.execute("SHOW transaction_read_only")
        assert cursor.fetchone()[0] == "off"


def test_run_queries__inside_the_health_transaction__writes_are_refused(monkeypatch):
    monkeypatch.setattr(
        pg_health,
        "_queries",
        lambda facts: [("write", "CREATE TABLE railops_health_w (i int)", {})],
    )
    results, errors = pg_health.run_queries("default")
    assert "read-only transaction" in str(errors["write"])
    assert "write" not in results


def test_unreachable_database__critical_connect_finding_not_an_exception():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with db_alias("health_down", PORT=str(port), OPTIONS={"connect_timeout": 2}) as alias:
        report = health.run(alias, include_container=False)
    assert finding(report, "health.connect.refused").severity is Severity.CRITICAL


def test_stat_statements__created_but_not_preloaded__info_with_the_setting(admin):
    admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    try:
        report = health.run("default", include_container=False)
    finally:
        admin.execute("DROP EXTENSION pg_stat_statements")
    preload = finding(report, "health.pg.unavailable.statements")
    assert preload.severity is Severity.INFO and "shared_preload_libraries" in preload.fix


def test_replication_slot__inactive_and_retaining_wal__warning(admin):
    admin.execute("SELECT pg_create_physical_replication_slot('railops_health_slot', true)")
    try:
        report = health.run("default", include_container=False)
    finally:
        admin.execute("SELECT pg_drop_replication_slot('railops_health_slot')")
    inactive = finding(report, "health.pg.inactive_slot")
    assert inactive.severity is Severity.WARNING and "railops_health_slot" in inactive.detail
    slots = finding(report, "health.pg.replication_slots")
    assert "railops_health_slot" in slots.data["inactive"]


@pytest.mark.parametrize(
    ("host", "ssl", "severity"),
    [
        ("db.example.com", False, Severity.WARNING),
        ("postgres.railway.internal", False, Severity.INFO),
        ("db.example.com", True, Severity.OK),
    ],
)
def test_ssl__non_local_connection_without_ssl__warning(host, ssl, severity):
    from railops_django.db.health import Sample
    from railops_django.health.metrics import evaluate

    sample = Sample(vendor="postgresql")
    pg_health._security(sample, {"ssl": ssl, "superuser": False}, {"HOST": host}, "app")
    found = [evaluate(m)[0] for m in sample.measurements if m.id == "pg.ssl"]
    assert found and found[0].severity is severity
    assert "sslmode=require" in found[0].fix


def test_ssl__local_connection__not_reported():
    from railops_django.db.health import Sample

    sample = Sample(vendor="postgresql")
    pg_health._security(
        sample, {"ssl": False, "superuser": True}, {"HOST": "127.0.0.1"}, "postgres"
    )
    assert [m.id for m in sample.measurements] == ["pg.superuser"]
    assert sample.measurements[0].severity is Severity.INFO
