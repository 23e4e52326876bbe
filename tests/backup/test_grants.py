"""An in-place restore keeps the database's privileges (pg_dump engine).

``pg_restore --clean --no-privileges`` dropped and recreated every table, sequence and schema
of the archive without their GRANTs: after ``backup restore``, a reporting role that could
read ``shop_product`` got "permission denied". The privileges the live database had are now
granted again; one whose object the backup does not hold is a warning naming it.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from railops_django.db.postgres import grants
from railops_django.db.postgres.params import quote
from tests.backup.conftest import real
from tests.utils import run_command

pytestmark = pytest.mark.postgres


def _run(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _can_read(role: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(%s, 'shop_product', 'SELECT')", [role])
        return bool(cursor.fetchone()[0])


def _grants() -> set[str]:
    with connection.cursor() as cursor:
        return {g.label() for g in grants.read(cursor)}


@pytest.fixture
def reader(shop_data):
    """A role with privileges on tables, a column, a sequence, a second schema and its table."""
    role = f'railops reader "{uuid.uuid4().hex[:8]}"; --'  # a name that needs its quoting
    who = quote(role)
    _run(f"CREATE ROLE {who} NOLOGIN")
    _run(
        f"GRANT SELECT ON shop_product TO {who}; "
        f"GRANT UPDATE (name) ON shop_category TO {who}; "
        f"GRANT USAGE, SELECT ON SEQUENCE shop_product_id_seq TO {who}; "
        "CREATE SCHEMA reports; CREATE TABLE reports.daily (day date, total numeric); "
        f"GRANT USAGE ON SCHEMA reports TO {who}; "
        f"GRANT SELECT ON reports.daily TO {who} WITH GRANT OPTION; "
        "GRANT SELECT ON reports.daily TO PUBLIC"
    )
    yield role
    _run(f"DROP SCHEMA IF EXISTS reports CASCADE; DROP OWNED BY {who}; DROP ROLE {who}")


def test_restore__privileges_on_tables_columns_sequences_and_schemas__granted_again(
    backup_dir, reader, settings
):
    real("pg_dump")
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "pg_dump"}
    before = _grants()
    assert len(before) == 8, before  # and USAGE on public to PUBLIC, as PostgreSQL makes it
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    _run("UPDATE shop_product SET price = price + 1")

    out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--format", "json")
    assert code == 0, out + err
    assert _grants() == before
    assert _can_read(reader)


def test_restore__privilege_on_a_column_the_backup_lacks__warning_naming_it(
    backup_dir, reader, settings
):
    real("pg_dump")
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "pg_dump"}
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    _run(
        f"ALTER TABLE shop_product ADD COLUMN note text; GRANT SELECT (note) ON shop_product TO {quote(reader)}"
    )

    out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--force")
    assert f"SELECT (note) on public.shop_product to {reader}: not in the backup" in out + err
    assert "1 privilege(s) the database had before the restore are not back" in out + err
    assert _can_read(reader)


def test_native_restore_in_place__privileges_stay(backup_dir, shop_data, settings):
    # The native engine empties the tables rather than dropping them: nothing to grant again.
    role = f"railops_reader_{uuid.uuid4().hex[:8]}"
    _run(f'CREATE ROLE "{role}" NOLOGIN; GRANT SELECT ON shop_product TO "{role}"')
    try:
        settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "native"}
        before = _grants()
        out, err, code = run_command("backup", "create")
        assert code == 0, out + err
        out, err, code = run_command("backup", "restore", "--latest", "--noinput")
        assert code == 0, out + err
        assert _grants() == before
        assert f"SELECT on public.shop_product to {role}" in before
    finally:
        _run(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')
