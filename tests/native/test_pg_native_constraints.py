"""Indexes and constraints made by hand are refused by name; Django's own never are.

A native restore rebuilds the schema from the migrations, so an index or a constraint made in
``psql`` used to be gone after it, silently: a uniqueness or a check the application relied
on, or the index a slow query needed. Django's own are matched by definition, because their
names drift (renames keep them, they hash columns, text columns get ``_like`` twins).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from railops_django.backup import schedule
from railops_django.db.postgres import native as pg_native

from .seed import seed

pytestmark = pytest.mark.postgres

APP = "railops_testapp"
RACK = "railops_testapp_rack"

CASES = [
    pytest.param(
        "CREATE INDEX orders_created_idx ON orders_order (created_at)",
        "index orders_created_idx on orders_order",
        "index no migration creates",
        id="plain_index",
    ),
    pytest.param(
        "CREATE INDEX product_lower_name_idx ON shop_product (lower(name))",
        "index product_lower_name_idx on shop_product",
        "expression index no migration creates",
        id="expression_index",
    ),
    pytest.param(  # on a column Django indexes: the predicate is what would be lost
        "CREATE INDEX product_in_stock_idx ON shop_product (category_id) WHERE stock > 0",
        "index product_in_stock_idx on shop_product",
        "partial index no migration creates",
        id="partial_index",
    ),
    pytest.param(  # on a column Django indexes with btree
        "CREATE INDEX category_name_hash ON shop_category USING hash (name)",
        "index category_name_hash on shop_category",
        "index no migration creates",
        id="hash_index",
    ),
    pytest.param(
        "CREATE UNIQUE INDEX order_email_uniq ON orders_order (customer_email)",
        "index order_email_uniq on orders_order",
        "unique index no migration creates",
        id="unique_index",
    ),
    pytest.param(  # Django indexes category_id, and id is unique, but not as one pair
        "CREATE UNIQUE INDEX product_category_id_uniq ON shop_product (category_id, id)",
        "index product_category_id_uniq on shop_product",
        "unique index no migration creates",
        id="unique_index_on_indexed_column",
    ),
    pytest.param(
        "ALTER TABLE shop_product ADD CONSTRAINT shop_product_price_check CHECK (price >= 0)",
        "constraint shop_product_price_check on shop_product",
        "check constraint no migration creates",
        id="check",
    ),
    pytest.param(  # stock has Django's own CHECK (stock >= 0): this one is another
        "ALTER TABLE shop_product ADD CONSTRAINT product_stock_cap CHECK (stock < 1000000)",
        "constraint product_stock_cap on shop_product",
        "check constraint no migration creates",
        id="check_on_checked_column",
    ),
    pytest.param(
        "ALTER TABLE shop_product ADD CONSTRAINT shop_product_name_key UNIQUE (name)",
        "constraint shop_product_name_key on shop_product",
        "unique constraint no migration creates",
        id="unique_constraint",
    ),
    pytest.param(
        "ALTER TABLE shop_product ADD CONSTRAINT product_name_fk "
        "FOREIGN KEY (name) REFERENCES shop_category (name) NOT VALID",
        "constraint product_name_fk on shop_product",
        "foreign key no migration creates",
        id="foreign_key",
    ),
    pytest.param(  # a twin of Django's own foreign key on order_id, but cascading
        "ALTER TABLE orders_orderitem ADD CONSTRAINT orderitem_order_cascade "
        "FOREIGN KEY (order_id) REFERENCES orders_order (id) ON DELETE CASCADE",
        "constraint orderitem_order_cascade on orders_orderitem",
        "foreign key no migration creates",
        id="foreign_key_twin",
    ),
    pytest.param(  # slug is unique in the state: an exclusion constraint is still another thing
        "ALTER TABLE shop_category ADD CONSTRAINT category_slug_excl "
        "EXCLUDE USING btree (slug WITH =)",
        "constraint category_slug_excl on shop_category",
        "exclusion constraint no migration creates",
        id="exclusion",
    ),
]


@pytest.mark.parametrize(("setup", "name", "kind"), CASES)
def test_dump__index_or_constraint_made_by_hand__refused_naming_it(scratch, setup, name, kind):
    db = scratch()
    seed(db.alias, n=3)
    db.sql(setup)
    with pytest.raises(pg_native.PartialBackup) as caught:
        pg_native.dump(db.alias, io.BytesIO())
    assert caught.value.tables == [name]
    assert f"{name} ({kind})" in str(caught.value)


@pytest.mark.parametrize(("setup", "name", "kind"), CASES)
def test_dump__index_or_constraint_made_by_hand_allow_partial__listed_and_rows_dumped(
    scratch, setup, name, kind
):
    db = scratch()
    seed(db.alias, n=3)
    db.sql(setup)
    info = pg_native.dump(db.alias, io.BytesIO(), allow_partial=True)
    assert info["not_covered"] == [name]
    assert info["not_covered_kinds"][name] == kind
    assert info["tables"]["shop_product"]["rows"] == 3


def test_dump__freshly_migrated_project__no_index_or_constraint_refused(scratch):
    db = scratch()
    assert db.sql("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")[0][0] > 30
    info = pg_native.dump(db.alias, io.BytesIO())
    assert info["not_covered"] == []


def test_dump__djangos_indexes_and_constraints_renamed__matched_by_definition_not_refused(scratch):
    # What an old Django version, a RenameModel or a hand rename leaves: other names, same keys.
    db = scratch()
    renames = db.sql(
        "SELECT format('ALTER INDEX %I RENAME TO %I', indexname, 'ix_' || md5(indexname)) "
        "FROM pg_indexes WHERE schemaname = 'public' AND tablename LIKE 'shop\\_%' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint) UNION ALL "
        "SELECT format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', conrelid::regclass, conname, "
        "'c_' || md5(conname)) FROM pg_constraint "
        "WHERE conrelid::regclass::text LIKE 'shop\\_%'"
    )
    assert len(renames) > 8
    db.sql("; ".join(statement for (statement,) in renames))
    info = pg_native.dump(db.alias, io.BytesIO())
    assert info["not_covered"] == []


@pytest.fixture
def racks(scratch, settings):
    settings.MIGRATION_MODULES = {APP: "tests.native.renamed_keys_migrations"}
    db = scratch()

    def migrate(target: str) -> None:
        call_command("migrate", APP, target, database=db.alias, verbosity=0, interactive=False)
        db.close()

    db.migrate_app = migrate
    return db


def test_dump__renamed_fields_and_model_keep_old_index_names__not_refused(racks):
    racks.migrate_app("0002")
    names = {
        name
        for (name,) in racks.sql(f"SELECT indexname FROM pg_indexes WHERE tablename = '{RACK}'")
    }
    assert any("shelf_name" in name for name in names)  # the old names, on renamed columns
    checks = racks.sql(
        f"SELECT conname FROM pg_constraint WHERE conrelid = '{RACK}'::regclass AND contype = 'c'"
    )
    assert len(checks) == 2  # Django's quantity >= 0, and shelf_note_not_none by its name
    info = pg_native.dump(racks.alias, io.BytesIO())
    assert info["not_covered"] == []


def test_dump__index_and_check_a_run_sql_creates__not_refused(racks):
    racks.migrate_app("0003")
    info = pg_native.dump(racks.alias, io.BytesIO())
    assert info["not_covered"] == []


def test_dump__same_index_made_by_hand_without_the_run_sql__refused(racks):
    racks.migrate_app("0002")
    racks.sql(f"CREATE INDEX rack_title_in_stock_idx ON {RACK} (title) WHERE quantity > 0")
    with pytest.raises(pg_native.PartialBackup) as caught:
        pg_native.dump(racks.alias, io.BytesIO())
    assert caught.value.tables == [f"index rack_title_in_stock_idx on {RACK}"]


def test_dump__matview_and_index_a_run_python_creates_with_sql__not_refused(scratch, settings):
    settings.MIGRATION_MODULES = {APP: "tests.native.run_python_migrations"}
    db = scratch()
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    db.sql("INSERT INTO railops_testapp_shelf (name) VALUES ('a'), ('b')")
    info = pg_native.dump(db.alias, io.BytesIO())
    assert info["not_covered"] == []
    assert info["matviews"] == ["shelf_names"]  # refreshed after the rows are restored


def test_dump__keys_a_state_only_change_forgot_on_a_renamed_table__not_refused(scratch, settings):
    # The migrations recreate them (0001 runs on restore), so they are not lost: matched by the
    # names Django gave them before the SeparateDatabaseAndState.
    settings.MIGRATION_MODULES = {APP: "tests.native.state_only_migrations"}
    db = scratch()
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    kept = db.sql(f"SELECT indexname FROM pg_indexes WHERE tablename = '{RACK}'")
    assert len(kept) == 5  # pkey, name and its _like, code's unique and its _like
    info = pg_native.dump(db.alias, io.BytesIO())
    assert info["not_covered"] == []

    db.sql(f"CREATE INDEX rack_code_idx ON {RACK} (code)")  # the same columns, by hand
    with pytest.raises(pg_native.PartialBackup) as caught:
        pg_native.dump(db.alias, io.BytesIO())
    assert caught.value.tables == [f"index rack_code_idx on {RACK}"]


def test_backup_create__allow_partial_with_hand_made_index__warning_names_it(
    scratch, settings, tmp_path
):
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path / "backups"), "BACKUP_ENGINE": "native"}
    db = scratch()
    db.sql("CREATE INDEX orders_created_idx ON orders_order (created_at)")

    report = schedule.create_report(db.alias, "manual", allow_partial=True)

    [partial] = [f for f in report.findings if f.id == "backup.partial"]
    assert partial.title == "1 object(s) left out: the migrations do not rebuild them"
    assert partial.detail == "index orders_created_idx on orders_order"
