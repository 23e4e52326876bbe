"""Triggers and functions that a migration operation from outside Django creates.

The native engine reads the SQL such an operation runs as ``sqlmigrate`` collects it; one
whose SQL cannot be collected without a database is judged by its arguments. A restore loads
the rows with the tables' triggers off, sets each back to the mode the backup recorded, and
the triggers fire again after it.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from railops_django.db.postgres import native as pg_native

pytestmark = pytest.mark.postgres

APP = "railops_testapp"
SHELF = "railops_testapp_shelf"
MODES = (
    "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass "
    "AND NOT tgisinternal ORDER BY 1"
)


@pytest.fixture
def shelf(scratch, settings):
    settings.MIGRATION_MODULES = {APP: "tests.native.outside_operation_migrations"}
    db = scratch()
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    return db


def test_dump__triggers_outside_operations_create__covered_by_their_sql_or_arguments(shelf):
    info = pg_native.dump(shelf.alias, io.BytesIO())

    assert info["not_covered"] == []
    triggers = sorted(t["name"] for t in info["triggers"])
    assert triggers == ["shelf_careless_trg", "shelf_count_trg", "shelf_opaque_trg"]


def test_dump__outside_operation_that_writes_while_collecting__database_left_unchanged(shelf):
    # Careless runs CREATE SEQUENCE on its editor's connection when asked only for its SQL:
    # the collection runs read-only and is rolled back, and it is judged by its arguments.
    info = pg_native.dump(shelf.alias, io.BytesIO())

    assert info["not_covered"] == []
    assert shelf.sql("SELECT to_regclass('careless_side_effect')") == [(None,)]


def test_dump__trigger_made_by_hand_beside_them__still_refused(shelf):
    shelf.sql(
        f"CREATE TRIGGER by_hand BEFORE INSERT ON {SHELF} "
        "FOR EACH ROW EXECUTE FUNCTION shelf_count_fn()"
    )
    with pytest.raises(pg_native.PartialBackup) as caught:
        pg_native.dump(shelf.alias, io.BytesIO())
    assert caught.value.tables == [f"trigger by_hand on {SHELF}"]


def test_restore__rows_a_before_insert_trigger_would_rewrite__loaded_as_backed_up(shelf):
    shelf.sql(f"INSERT INTO {SHELF} (name) VALUES ('abc'), ('de')")
    shelf.sql(f"UPDATE {SHELF} SET slots = 99 WHERE name = 'abc'")  # no UPDATE trigger
    shelf.sql(f"ALTER TABLE {SHELF} DISABLE TRIGGER shelf_opaque_trg")
    modes = shelf.sql(MODES, [SHELF])
    assert modes == [
        ("shelf_careless_trg", "O"),
        ("shelf_count_trg", "O"),
        ("shelf_opaque_trg", "D"),
    ]
    out = io.BytesIO()
    info = pg_native.dump(shelf.alias, out)
    out.seek(0)
    shelf.recreate_empty()

    pg_native.restore(shelf.alias, out, info)

    assert shelf.sql(f"SELECT name, slots FROM {SHELF} ORDER BY 1") == [("abc", 99), ("de", 2)]
    assert shelf.sql(MODES, [SHELF]) == modes
    shelf.sql(f"INSERT INTO {SHELF} (name) VALUES ('fghij')")  # the trigger fires again
    assert shelf.sql(f"SELECT slots FROM {SHELF} WHERE name = 'fghij'") == [(5,)]


def test_restore_in_place__trigger_made_on_the_target_since__kept_in_its_mode_off_while_loading(
    shelf,
):
    shelf.sql(f"INSERT INTO {SHELF} (name) VALUES ('abc')")
    shelf.sql(f"DROP TRIGGER shelf_opaque_trg ON {SHELF}")  # the backup's database lacks it
    out = io.BytesIO()
    info = pg_native.dump(shelf.alias, out)
    out.seek(0)
    # Since the backup: the migration-made trigger is back, and one no migration creates.
    shelf.sql(
        f"CREATE TRIGGER shelf_opaque_trg BEFORE INSERT ON {SHELF} "
        "FOR EACH ROW EXECUTE FUNCTION shelf_opaque_fn()"
    )
    shelf.sql(
        "CREATE FUNCTION minus_one() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.slots := -1; RETURN NEW; END $$"
    )
    shelf.sql(
        f"CREATE TRIGGER zz_by_hand BEFORE INSERT ON {SHELF} "
        "FOR EACH ROW EXECUTE FUNCTION minus_one()"
    )

    pg_native.restore(shelf.alias, out, info)

    assert shelf.sql(f"SELECT name, slots FROM {SHELF}") == [("abc", 3)]  # not -1
    assert shelf.sql(MODES, [SHELF]) == [
        ("shelf_careless_trg", "O"),
        ("shelf_count_trg", "O"),
        ("zz_by_hand", "O"),
    ]
