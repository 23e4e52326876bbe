"""Column defaults and COMMENTs: kept by a native restore, or refused by name.

A native restore rebuilds the schema with the migrations, so a default or a comment set by hand
(``psql``, a schema tool) used to be gone afterwards, silently, while a pg_dump keeps both.
Comments on tables, columns and views are now recorded in the manifest and set again; a
default the migrations do not set, and a comment on an index or a constraint, are refused
(see ``test_pg_native_coverage.CASES``).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from railops_django.db.postgres import native as pg_native

from .seed import seed

pytestmark = pytest.mark.postgres

APP = "railops_testapp"
SHELF = "railops_testapp_shelf"
# a comment that would break out of a badly quoted literal, and one with a backslash
TRICKY = 'it\'s "named"; DROP TABLE shop_product; -- \\N back\\slash, é漢字'

COMMENTS = (
    "SELECT obj_description(c.oid, 'pg_class'), a.attname, col_description(c.oid, a.attnum) "
    "FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
    "AND col_description(c.oid, a.attnum) IS NOT NULL WHERE c.relname = %s ORDER BY 2"
)


def test_restore__comments_set_by_hand__set_again_exactly(scratch):
    db = scratch()
    seed(db.alias, n=3)
    db.sql("COMMENT ON TABLE shop_product IS 'What we sell'")
    db.sql("COMMENT ON COLUMN shop_product.name IS " + "'" + TRICKY.replace("'", "''") + "'")
    db.sql("COMMENT ON COLUMN shop_product.stock IS ''")  # '' drops a comment, as in pg_dump
    before = db.sql(COMMENTS, ["shop_product"])
    assert before == [("What we sell", "name", TRICKY)]

    out = io.BytesIO()
    info = pg_native.dump(db.alias, out)
    assert info["not_covered"] == []
    assert {"on": "table", "name": "shop_product", "column": "name", "text": TRICKY} in info[
        "comments"
    ]
    checksums = db.checksums()
    out.seek(0)
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    assert db.sql(COMMENTS, ["shop_product"]) == before
    assert db.checksums() == checksums  # the tricky text did not run as SQL


def test_restore__comment_dropped_from_the_manifest__not_set(scratch):
    # The manifest is what restore sets the comments from, not the live database.
    db = scratch()
    db.sql("COMMENT ON TABLE shop_product IS 'What we sell'")
    out = io.BytesIO()
    info = pg_native.dump(db.alias, out)
    info["comments"] = []
    out.seek(0)
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    assert db.sql(COMMENTS, ["shop_product"]) == [(None, None, None)]


def test_dump__serial_id_of_an_old_project__its_nextval_default_not_refused(scratch):
    # Before Django 4.1 an AutoField was a serial: DEFAULT nextval(...) on an owned sequence.
    db = scratch()
    db.sql(
        "ALTER TABLE shop_product ALTER COLUMN id DROP IDENTITY; "
        "CREATE SEQUENCE shop_product_id_seq OWNED BY shop_product.id; "
        "ALTER TABLE shop_product ALTER COLUMN id SET DEFAULT nextval('shop_product_id_seq')"
    )
    info = pg_native.dump(db.alias, io.BytesIO())
    assert info["not_covered"] == []


def test_dump__db_default_generated_field_and_db_comment__not_refused_and_round_trip(
    scratch, settings
):
    settings.MIGRATION_MODULES = {APP: "tests.native.db_defaults_migrations"}
    db = scratch()
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    db.sql(f"INSERT INTO {SHELF} (slots) VALUES (3)")
    defaults = db.sql(
        "SELECT a.attname FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = %s::regclass",
        [SHELF],
    )
    assert {name for (name,) in defaults} == {"name", "slots", "added", "double_slots"}
    before = db.sql(COMMENTS, [SHELF])
    assert before == [("Shelves in the shop", "name", "shown on the label")]

    out = io.BytesIO()
    info = pg_native.dump(db.alias, out)
    assert info["not_covered"] == []
    out.seek(0)
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    assert db.sql(COMMENTS, [SHELF]) == before
    assert db.sql(f"SELECT name, slots, double_slots FROM {SHELF}") == [("unnamed", 3, 6)]


def test_dump__default_set_by_a_run_sql_naming_the_table__not_refused(scratch, settings):
    settings.MIGRATION_MODULES = {APP: "tests.native.run_python_migrations"}
    db = scratch()
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    db.sql(f"ALTER TABLE {SHELF} ALTER COLUMN name SET DEFAULT 'x'")  # as if its RunSQL did
    info = pg_native.dump(db.alias, io.BytesIO())
    assert info["not_covered"] == []


def test_restore__comment_on_a_matview_a_migration_creates__set_again(scratch, settings):
    settings.MIGRATION_MODULES = {APP: "tests.native.run_python_migrations"}
    db = scratch()
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    db.sql("COMMENT ON MATERIALIZED VIEW shelf_names IS 'for the search box'")
    out = io.BytesIO()
    info = pg_native.dump(db.alias, out)
    assert info["comments"] == [
        {
            "on": "materialized view",
            "name": "shelf_names",
            "column": None,
            "text": "for the search box",
        }
    ]
    out.seek(0)
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    assert db.sql(COMMENTS, ["shelf_names"]) == [("for the search box", None, None)]


def test_dump__default_an_add_default_value_operation_sets__not_refused_and_set_again(
    scratch, settings
):
    settings.MIGRATION_MODULES = {APP: "tests.native.add_default_value_migrations"}
    db = scratch()
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    db.sql(f"INSERT INTO {SHELF} (name) VALUES ('a')")  # slots from the database default
    out = io.BytesIO()
    info = pg_native.dump(db.alias, out)
    assert info["not_covered"] == []
    out.seek(0)
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)  # the operation runs again
    db.sql(f"INSERT INTO {SHELF} (name) VALUES ('b')")
    assert db.sql(f"SELECT name, slots FROM {SHELF} ORDER BY 1") == [("a", 7), ("b", 7)]


def test_dump__same_default_without_the_operation__refused(scratch, settings):
    settings.MIGRATION_MODULES = {APP: "tests.native.add_default_value_migrations"}
    db = scratch()
    call_command("migrate", APP, "0001", database=db.alias, verbosity=0, interactive=False)
    db.close()
    db.sql(f"ALTER TABLE {SHELF} ALTER COLUMN slots SET DEFAULT 7")
    with pytest.raises(pg_native.PartialBackup) as caught:
        pg_native.dump(db.alias, io.BytesIO())
    assert caught.value.tables == [f"default of {SHELF}.slots"]
