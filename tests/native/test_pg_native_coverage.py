"""Everything or a refusal: what a pg_dump holds and the migrations do not rebuild is refused
by name (exit 3 through the command), or left out only with --allow-partial and then listed.

Issue 15, point 1: a table in a second schema used to be left out silently, with an empty
``not_covered``; a partitioned table, a materialized view, a sequence owned by a column and
a generated column were left out the same way.
"""

from __future__ import annotations

import io

import pytest

from railops_django.db.postgres import native as pg_native

from .seed import seed

pytestmark = pytest.mark.postgres

SECOND_SCHEMA = (
    "CREATE SCHEMA audit; "
    "CREATE TABLE audit.events (id serial PRIMARY KEY, what text NOT NULL); "
    "INSERT INTO audit.events (what) SELECT 'event ' || g FROM generate_series(1, 1000) g"
)
PARTITIONED = (
    "CREATE TABLE measurements (id int, at date NOT NULL) PARTITION BY RANGE (at); "
    "CREATE TABLE measurements_2026 PARTITION OF measurements "
    "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'); "
    "INSERT INTO measurements SELECT g, '2026-03-01' FROM generate_series(1, 50) g"
)
MATVIEW = (
    "CREATE MATERIALIZED VIEW product_totals AS "
    "SELECT category_id, count(*) AS n FROM shop_product GROUP BY 1"
)
OWNED_SEQUENCE = (
    "CREATE SEQUENCE invoice_number_seq OWNED BY shop_product.stock; "
    "SELECT nextval('invoice_number_seq') FROM generate_series(1, 7)"
)
GENERATED_COLUMN = (
    "ALTER TABLE shop_product ADD COLUMN price_cents bigint "
    "GENERATED ALWAYS AS ((price * 100)::bigint) STORED"
)
GENERATED_TABLE = (
    "CREATE TABLE line_totals (qty int, price numeric, "
    "total numeric GENERATED ALWAYS AS (qty * price) STORED); "
    "INSERT INTO line_totals (qty, price) VALUES (2, 3.5)"
)

AUDIT_TRIGGER = (
    "CREATE FUNCTION stamp_product() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN NEW.name := NEW.name; RETURN NEW; END $$; "
    "CREATE TRIGGER product_stamp BEFORE UPDATE ON shop_product "
    "FOR EACH ROW EXECUTE FUNCTION stamp_product()"
)
FUNCTION = (
    "CREATE FUNCTION cents(numeric) RETURNS bigint LANGUAGE sql AS $$ SELECT ($1 * 100)::bigint $$"
)
ENUM = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')"
DOMAIN = "CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0)"
HAND_DEFAULT = "ALTER TABLE shop_product ALTER COLUMN name SET DEFAULT 'unnamed'"
INDEX_COMMENT = "COMMENT ON INDEX shop_product_pkey IS 'the key'"
CONSTRAINT_COMMENT = "COMMENT ON CONSTRAINT shop_product_pkey ON shop_product IS 'the key'"

CASES = [
    pytest.param(SECOND_SCHEMA, "audit.events", "table in schema audit", id="second_schema"),
    pytest.param(PARTITIONED, "measurements", "partitioned table", id="partitioned"),
    pytest.param(MATVIEW, "product_totals", "materialized view", id="matview"),
    pytest.param(OWNED_SEQUENCE, "invoice_number_seq", "owned by shop_product.stock", id="seq"),
    pytest.param(GENERATED_COLUMN, "shop_product.price_cents", "column", id="generated_column"),
    pytest.param(GENERATED_TABLE, "line_totals", "table no migration creates", id="gen_table"),
    pytest.param(
        AUDIT_TRIGGER, "trigger product_stamp on shop_product", "trigger no", id="trigger"
    ),
    pytest.param(AUDIT_TRIGGER, "stamp_product()", "function no", id="trigger_function"),
    pytest.param(FUNCTION, "cents()", "function no migration creates", id="function"),
    pytest.param(ENUM, "type mood", "enum type no migration creates", id="enum"),
    pytest.param(DOMAIN, "type positive_int", "domain no migration creates", id="domain"),
    pytest.param(HAND_DEFAULT, "default of shop_product.name", "column default no", id="default"),
    pytest.param(
        INDEX_COMMENT, "comment on index shop_product_pkey", "comment on a", id="index_comment"
    ),
    pytest.param(
        CONSTRAINT_COMMENT,
        "comment on constraint shop_product_pkey on shop_product",
        "comment on a constraint",
        id="constraint_comment",
    ),
]


@pytest.mark.parametrize(("setup", "name", "kind"), CASES)
def test_dump__object_the_migrations_do_not_rebuild__refused_naming_it(scratch, setup, name, kind):
    db = scratch()
    seed(db.alias, n=3)
    db.sql(setup)
    with pytest.raises(pg_native.PartialBackup) as caught:
        pg_native.dump(db.alias, io.BytesIO())
    assert name in caught.value.tables
    assert f"{name} (" in str(caught.value) and kind in str(caught.value)


@pytest.mark.parametrize(("setup", "name", "kind"), CASES)
def test_dump__allow_partial__lists_it_as_not_covered_and_the_rest_restores_exactly(
    scratch, setup, name, kind
):
    db = scratch()
    seed(db.alias, n=3)
    before = {t: v for t, v in db.checksums().items() if t.startswith(("shop_", "auth_user"))}
    db.sql(setup)
    out = io.BytesIO()
    info = pg_native.dump(db.alias, out, allow_partial=True)
    assert name in info["not_covered"]
    assert kind in info["not_covered_kinds"][name]
    out.seek(0)
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    after = {t: v for t, v in db.checksums().items() if t in before}
    assert after == before  # shop_product without the generated column, as the migrations make it


def test_dump__empty_second_schema__refused_by_name(scratch):
    db = scratch()
    db.sql("CREATE SCHEMA reporting")
    with pytest.raises(pg_native.PartialBackup, match="schema reporting"):
        pg_native.dump(db.alias, io.BytesIO())


def test_dump__extension_in_its_own_schema__is_the_extensions_not_refused(scratch):
    db = scratch()
    available = db.sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    if not available:
        pytest.skip("pg_trgm is not installed on this server")
    db.sql("CREATE SCHEMA extensions; CREATE EXTENSION pg_trgm SCHEMA extensions")
    info = pg_native.dump(db.alias, io.BytesIO())
    assert info["not_covered"] == []


def test_coverage__run_sql_mentions__whole_names_only():
    cover = pg_native.Coverage([], {}, set(), "create materialized view sales_by_day as select 1")
    assert cover.mentioned("sales_by_day") and cover.mentioned("SALES_BY_DAY")
    assert not cover.mentioned("sales_by") and not cover.mentioned("by_day")


def test_dump__unmigrated_table_with_serial__refused_once_by_its_table_name(scratch):
    db = scratch()
    db.sql("CREATE TABLE legacy_log (id serial PRIMARY KEY, line text)")
    with pytest.raises(pg_native.PartialBackup) as caught:
        pg_native.dump(db.alias, io.BytesIO())
    assert caught.value.tables == ["legacy_log"]
