from __future__ import annotations

import socket
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from railops_django.db import schema
from railops_django.diagnose import database, run
from railops_django.diagnose.runner import Context
from railops_django.report import Severity
from tests.utils import run_manage

pytestmark = pytest.mark.django_db


def _ids(findings):
    return [f.id for f in findings]


def test_drift__migrated_database__no_drift():
    assert schema.drift("default") == []


def test_drift__column_dropped_behind_djangos_back__critical(django_db_blocker):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE shop_product DROP COLUMN stock")
    findings = schema.drift("default", ["shop"])
    (f,) = findings
    assert (
        f.id == "schema.drift.missing_column" and f.severity is Severity.CRITICAL and f.rank == 10
    )
    assert f.data["table"] == "shop_product" and f.data["column"] == "stock"
    assert (
        MigrationRecorder(connection)
        .migration_qs.filter(app="shop", name="0002_product_stock")
        .exists()
    )


@pytest.mark.postgres
def test_drift__postgres_column_dropped__whole_report_ranks_it_before_the_500():
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE shop_product DROP COLUMN stock")
    report = run()
    problems = report.problems()
    assert problems[0].id == "schema.drift.missing_column", _ids(problems)
    edge = next(f for f in problems if f.id == "diagnose.edge.root")
    assert edge.severity is Severity.CRITICAL and edge.data["status"] == 500
    assert edge.data["cause"] in ("ProgrammingError", "UndefinedColumn")
    assert "diagnose.migrations.pending" not in _ids(report.findings)


@pytest.mark.postgres
def test_drift__postgres_table_dropped_and_not_null_relaxed__both_found():
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE orders_orderitem")
        cursor.execute("ALTER TABLE orders_order ALTER COLUMN customer_email DROP NOT NULL")
    found = {f.id: f for f in schema.drift("default", ["orders"])}
    assert found["schema.drift.missing_table"].severity is Severity.CRITICAL
    assert found["schema.drift.missing_table"].data["table"] == "orders_orderitem"
    null = found["schema.drift.nullability"]
    assert (
        null.severity is Severity.WARNING
        and null.rank == 20
        and null.data["column"] == "customer_email"
    )


def test_migrations__recorded_row_removed__pending_critical():
    MigrationRecorder(connection).migration_qs.filter(
        app="orders", name="0002_order_status"
    ).delete()
    ctx = Context()
    f = next(f for f in database.migrations(ctx) if f.data.get("app") == "orders")
    assert f.id == "diagnose.migrations.pending" and f.severity is Severity.CRITICAL and f.rank == 9
    assert f.data["migrations"] == ["0002_order_status"]
    assert "orders" in ctx.facts["pending_apps"]


def test_migrations__two_leaves__conflict_critical():
    with override_settings(MIGRATION_MODULES={"orders": "tests.diagnose.conflicting_migrations"}):
        findings = database.migrations(Context())
    (f,) = findings
    assert (
        f.id == "diagnose.migrations.conflict" and f.severity is Severity.CRITICAL and f.rank == 9
    )
    assert f.data["leaves"] == ["0002_left", "0002_right"]


def test_post_migrate__content_types_deleted__warning():
    ContentType.objects.filter(app_label="shop").delete()  # cascades to the permissions
    (f,) = database.post_migrate_data(Context())
    assert (
        f.id == "diagnose.database.post_migrate" and f.severity is Severity.WARNING and f.rank == 40
    )
    assert "shop.product" in f.data["content_types"] and "shop.add_product" in f.data["permissions"]


def test_connect__reachable__info_latency():
    ctx = Context()
    (f,) = database.connect(ctx)
    assert f.id == "diagnose.database.latency" and f.severity is Severity.INFO and ctx.database_ok


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _example_env(url: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "RAILOPS_CONNECT_TIMEOUT": "2"}


def test_connect__refused_port__critical_rank_0_and_database_probes_skipped():
    proc = run_manage(
        "railway_diagnose",
        "--format",
        "json",
        env=_example_env(f"postgres://postgres:pw-canary-1@127.0.0.1:{_free_port()}/x"),
    )
    import json

    report = json.loads(proc.stdout)
    assert proc.returncode == 2
    first = report["findings"][0]
    assert first["id"] == "diagnose.database.connect.refused" and first["severity"] == "critical"
    assert {"migrations", "schema_drift", "edge_replay"} <= set(report["skipped_probes"])
    assert "pw-canary-1" not in proc.stdout + proc.stderr


def test_connect__server_never_answers__bounded_by_connect_timeout():
    with socket.socket() as listener:  # accepts TCP, never speaks PostgreSQL
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        proc = run_manage(
            "railway_diagnose",
            "--format",
            "json",
            env=_example_env(f"postgres://postgres@127.0.0.1:{port}/x"),
            timeout=20,
        )
        elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert '"diagnose.database.connect.timeout"' in proc.stdout
    assert elapsed < 2 + 6, elapsed  # the connect timeout plus the process's own start-up


def test_conn_health_checks__persistent_without_checks__warning(monkeypatch):
    db = connection.settings_dict
    monkeypatch.setitem(db, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(db, "CONN_HEALTH_CHECKS", False)
    f = next(
        f
        for f in database.connection_budget(Context())
        if f.id == "diagnose.database.conn_health_checks"
    )
    assert f.severity is Severity.WARNING and f.rank == 45


@pytest.mark.postgres
def test_connection_budget__more_threads_than_max_connections__critical(settings, tmp_path):
    (tmp_path / "Procfile").write_text("web: gunicorn config.wsgi --workers 50 --threads 8\n")
    settings.BASE_DIR = tmp_path
    ctx = Context()
    f = next(
        f for f in database.connection_budget(ctx) if f.id == "diagnose.database.connection_budget"
    )
    assert f.severity is Severity.CRITICAL and f.rank == 6
    assert f.data["per_replica"] == 400 and f.data["replicas_that_fit"] == 0


@pytest.mark.postgres
def test_connection_budget__example_start_command__info(settings):
    f = next(
        f
        for f in database.connection_budget(Context())
        if f.id == "diagnose.database.connection_budget"
    )
    assert (
        f.severity is Severity.INFO
        and f.data["per_replica"] == 4
        and f.data["source"] == "start command"
    )


@pytest.mark.sqlite
def test_connection_budget__sqlite__no_budget():
    assert [
        f
        for f in database.connection_budget(Context())
        if f.id == "diagnose.database.connection_budget"
    ] == []


def test_drift__table_dropped__missing_table_critical():
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE orders_orderitem")
    (f,) = schema.drift("default", ["orders"])
    assert f.id == "schema.drift.missing_table" and f.severity is Severity.CRITICAL and f.rank == 10
    assert f.data["model"] == "orders.OrderItem"


def test_connect__slower_than_threshold__warning(settings):
    settings.RAILOPS = {"THRESHOLDS": {"latency_ms": [0, 100000]}}
    (f,) = database.connect(Context())
    assert f.id == "diagnose.database.latency" and f.severity is Severity.WARNING and f.fix
