"""Everything or a refusal, through ``backup create``/``restore`` on the real test database.

Issue 15, point 1: with ``BACKUP_ENGINE=auto`` and a pg_dump too old, the native engine
backed up a database with ``audit.events`` (1,000 rows) as "engine: native", exit 0, without
the table and with ``not_covered: []``. Now it refuses (exit 3) naming every object it cannot
rebuild; the pg_dump engine backs them all up and restores them exactly.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection

from railops_django.backup import list_backups
from tests.backup.conftest import real, wrapper_dir
from tests.native.test_pg_native_coverage import (
    GENERATED_COLUMN,
    GENERATED_TABLE,
    MATVIEW,
    OWNED_SEQUENCE,
    PARTITIONED,
    SECOND_SCHEMA,
)
from tests.utils import run_command

pytestmark = pytest.mark.postgres

RELATIONS = ["audit.events", "measurements", "product_totals", "line_totals", "shop_product"]
NAMES = [
    "audit.events",
    "measurements",
    "product_totals",
    "invoice_number_seq",
    "shop_product.price_cents",
    "line_totals",
]


def _run(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _fingerprint() -> dict[str, object]:
    """Row count and md5 of every object under test, and the sequence's position."""
    found: dict[str, object] = {}
    for relation in RELATIONS:
        found[relation] = _run(
            "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
            f"FROM {relation} t"
        )[0]
    found["invoice_number_seq"] = _run("SELECT last_value, is_called FROM invoice_number_seq")[0]
    found["price_cents"] = _run("SELECT sum(price_cents) FROM shop_product")[0]
    return found


@pytest.fixture
def every_kind(shop_data):
    """The five kinds of object the issue names, beside the migrations' tables; dropped after."""
    for statement in (SECOND_SCHEMA, PARTITIONED, MATVIEW, OWNED_SEQUENCE, GENERATED_COLUMN):
        _run(statement)
    _run(GENERATED_TABLE)
    yield
    _run(
        "DROP SCHEMA IF EXISTS audit CASCADE; DROP MATERIALIZED VIEW IF EXISTS product_totals; "
        "DROP TABLE IF EXISTS measurements, line_totals; "
        "DROP SEQUENCE IF EXISTS invoice_number_seq; "
        "ALTER TABLE shop_product DROP COLUMN IF EXISTS price_cents"
    )


def test_native_auto_with_old_pg_dump__second_schema_and_the_rest__exit_3_naming_each(
    backup_dir, every_kind, tmp_path, monkeypatch, settings
):
    bindir = wrapper_dir(tmp_path, "pg_dump", 'echo "pg_dump (PostgreSQL) 12.9"\n')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "auto"}
    out, err, code = run_command("backup", "create")
    assert code == 3, out + err
    assert len(err.strip().splitlines()) == 1
    for name in NAMES:
        assert f"{name} (" in err
    assert "--allow-partial" in err and "pg_dump" in err
    assert list_backups() == []


def test_native__allow_partial__manifest_lists_what_it_left_out(backup_dir, every_kind, settings):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "native"}
    out, err, code = run_command("backup", "create", "--allow-partial")
    assert code == 0, out + err
    (backup,) = list_backups()
    assert set(NAMES) <= set(backup.manifest["engine_info"]["not_covered"])
    assert "audit.events" not in backup.manifest["engine_info"]["tables"]


def test_pg_dump_engine__every_kind__round_trips_exactly_and_verifies(
    backup_dir, every_kind, settings
):
    real("pg_dump")
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "pg_dump"}
    before = _fingerprint()
    assert before["audit.events"][0] == 1000
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    (backup,) = list_backups()
    assert backup.manifest["tables"]["audit.events"]["rows"] == 1000
    out, err, code = run_command("backup", "verify", "--latest", "--restore-test")
    assert code == 0, out + err

    _run(
        "DELETE FROM audit.events WHERE id > 500; TRUNCATE measurements; "
        "INSERT INTO line_totals (qty, price) VALUES (9, 9); "
        "SELECT setval('invoice_number_seq', 100); UPDATE shop_product SET price = price + 1"
    )
    assert _fingerprint() != before
    out, err, code = run_command("backup", "restore", backup.name, "--noinput")
    assert code == 0, out + err
    assert _fingerprint() == before


@pytest.fixture
def dotted_names(shop_data):
    """``extra.notes`` twice: a table in schema extra, and a public table with a dot in its
    name; and a quote in a table's name."""
    _run(
        "CREATE SCHEMA extra; CREATE TABLE extra.notes (id int); "
        "INSERT INTO extra.notes SELECT generate_series(1, 3); "
        'CREATE TABLE "extra.notes" (id int); INSERT INTO "extra.notes" VALUES (1); '
        'CREATE TABLE "say ""hi""" (id int)'
    )
    yield
    _run('DROP SCHEMA IF EXISTS extra CASCADE; DROP TABLE IF EXISTS "extra.notes", "say ""hi"""')


def test_pg_dump_engine__dotted_table_name_beside_a_schema__both_counted_apart(
    backup_dir, dotted_names, settings
):
    real("pg_dump")
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "pg_dump"}
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    (backup,) = list_backups()
    tables = backup.manifest["tables"]
    assert tables["extra.notes"]["rows"] == 3
    assert tables['"extra.notes"']["rows"] == 1
    assert tables['"say ""hi"""']["rows"] == 0
    out, err, code = run_command("backup", "verify", "--latest", "--restore-test")
    assert code == 0, out + err
