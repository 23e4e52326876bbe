from __future__ import annotations

import io
import threading

import pytest
from shop.models import Product

from railops_django.db.postgres import native as pg_native
from railops_django.db.postgres import native_stream as stream
from railops_django.report import CannotRun

pytestmark = pytest.mark.postgres

from .seed import seed  # noqa: E402


def _dump(alias: str, **kwargs) -> tuple[io.BytesIO, dict]:
    out = io.BytesIO()
    info = pg_native.dump(alias, out, **kwargs)
    out.seek(0)
    return out, info


def _data_records(out: io.BytesIO) -> dict[str, int]:
    """How many data records each table has in the stream."""
    inp = io.BytesIO(out.getvalue())
    stream.read_magic(inp)
    records: dict[str, int] = {}
    table = ""
    while (record := stream.read_record(inp))[0] != stream.TRAILER:
        kind, payload = record
        if kind == stream.TABLE:
            table = stream.decode_json(kind, payload)["table"]
            records[table] = 0
        elif kind == stream.DATA:
            records[table] += 1
    return records


def test_round_trip__example_project__identical_checksums(scratch):
    db = scratch()
    seed(db.alias)
    before, schema = db.checksums(), db.schema()
    out, info = _dump(db.alias)
    assert info["engine"] == "native" and info["not_covered"] == []
    assert "shop_product" in info["tables"] and "auth_user_groups" in info["tables"]
    assert info["tables"]["auth_user"]["rows"] == 20
    assert "0003_seed_categories" in info["migrations"]["shop"]

    db.recreate_empty()
    summary = pg_native.restore(db.alias, out, info)

    assert db.checksums() == before
    assert db.schema() == schema and len(schema) > 50
    assert summary["tables"] == len(info["tables"])
    assert summary["rows"] == sum(t["rows"] for t in info["tables"].values())


def test_round_trip__sequences_continue__next_insert_gets_fresh_id(scratch):
    db = scratch()
    seed(db.alias, n=5)
    highest = max(Product.objects.using(db.alias).values_list("pk", flat=True))
    out, info = _dump(db.alias)
    assert info["sequences"]["shop_product_id_seq"]["value"] == highest
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)

    category = db.sql("SELECT id FROM shop_category LIMIT 1")[0][0]
    new_id = db.sql(
        "INSERT INTO shop_product (category_id, name, price, created_at, stock) "
        "VALUES (%s, 'new', 1, now(), 0) RETURNING id",
        [category],
    )[0][0]
    assert new_id == highest + 1


def test_round_trip__into_freshly_migrated_database__replaces_migration_rows(scratch):
    db = scratch()
    seed(db.alias, n=3)
    before = db.checksums()
    out, info = _dump(db.alias)
    target = scratch()  # migrated: content types, permissions, seeded categories already there
    pg_native.restore(target.alias, out, info)
    assert target.checksums() == before


def test_dump__table_not_created_by_migrations__partial_backup(scratch):
    db = scratch()
    db.sql("CREATE TABLE legacy_report (id int PRIMARY KEY, body text)")
    db.sql("INSERT INTO legacy_report VALUES (1, 'x')")

    with pytest.raises(pg_native.PartialBackup, match="legacy_report"):
        pg_native.dump(db.alias, io.BytesIO())

    _out, info = _dump(db.alias, allow_partial=True)
    assert info["not_covered"] == ["legacy_report"]
    assert "legacy_report" not in info["tables"]


def test_dump__concurrent_writes__dump_reflects_the_snapshot(scratch, monkeypatch):
    db = scratch()
    seed(db.alias, n=10)
    before = db.checksums()
    writes_done = threading.Event()

    def write_elsewhere(table: str) -> None:
        # After the first table is dumped, another connection changes tables not yet dumped
        # (and already dumped ones) and commits; the dump must not see any of it.
        if writes_done.is_set():
            return
        db.sql("INSERT INTO auth_group (name) VALUES ('written during the dump')")
        db.sql("UPDATE shop_product SET stock = stock + 1")
        db.sql("DELETE FROM orders_orderitem WHERE id IN (SELECT min(id) FROM orders_orderitem)")
        db.sql("UPDATE auth_user SET first_name = 'changed'")
        writes_done.set()

    monkeypatch.setattr(pg_native, "_after_table", write_elsewhere)
    out, info = _dump(db.alias)
    assert writes_done.is_set()
    assert db.checksums() != before  # the writes really happened

    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    assert db.checksums() == before


def test_dump__parallel_workers__same_content_as_one_worker(scratch):
    db = scratch()
    seed(db.alias, n=10)
    before = db.checksums()
    out, info = _dump(db.alias, workers=3)
    assert info["workers"] == 3
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    assert db.checksums() == before


def test_dump__parallel_workers_with_concurrent_writes__share_the_snapshot(scratch, monkeypatch):
    db = scratch()
    seed(db.alias, n=10)
    before = db.checksums()
    seen: list[str] = []
    lock = threading.Lock()

    def write_elsewhere(table: str) -> None:
        # Called for the tables this process dumps, while the worker process dumps the others
        # (possibly before it has even imported the snapshot).
        with lock:
            if not seen:
                db.sql("UPDATE shop_product SET stock = stock + 1")
                db.sql("INSERT INTO auth_group (name) VALUES ('written during the dump')")
            seen.append(table)

    monkeypatch.setattr(pg_native, "_after_table", write_elsewhere)
    out, info = _dump(db.alias, workers=2)
    assert seen  # this process dumped the largest share; the worker processes the rest
    assert info["workers"] == 2
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    assert db.checksums() == before


def test_restore__foreign_table_in_target__refuses_and_changes_nothing(scratch):
    db = scratch()
    out, info = _dump(db.alias)
    target = scratch(migrated=False)
    target.sql("CREATE TABLE someone_elses (id int)")

    with pytest.raises(CannotRun, match="someone_elses"):
        pg_native.restore(target.alias, out, info)
    assert [
        t for (t,) in target.sql("SELECT tablename FROM pg_tables WHERE schemaname='public'")
    ] == ["someone_elses"]


def test_restore__manifest_names_migration_code_lacks__refuses_naming_it(scratch):
    db = scratch()
    out, info = _dump(db.alias)
    info["migrations"]["shop"].append("0099_from_the_future")
    target = scratch(migrated=False)

    with pytest.raises(CannotRun, match=r"shop\.0099_from_the_future"):
        pg_native.restore(target.alias, out, info)
    assert target.sql("SELECT count(*) FROM pg_tables WHERE schemaname='public'") == [(0,)]


def test_restore__truncated_stream__fails_and_rolls_back_the_rows(scratch):
    db = scratch()
    seed(db.alias, n=5)
    out, info = _dump(db.alias)
    cut = io.BytesIO(out.getvalue()[: len(out.getvalue()) // 2])
    target = scratch(migrated=False)

    with pytest.raises(pg_native.RestoreFailed, match="cut short"):
        pg_native.restore(target.alias, cut, info)
    assert target.sql("SELECT count(*) FROM auth_user") == [(0,)]


def test_restore__rows_break_a_foreign_key__fails_and_rolls_back(scratch):
    db = scratch()
    seed(db.alias, n=5)
    out, info = _dump(db.alias)
    data = out.getvalue()
    # Point every order item at order 999999, which does not exist (same byte length).
    first = db.sql("SELECT min(order_id) FROM orders_orderitem")[0][0]
    assert first == 1
    target = scratch(migrated=False)
    broken = io.BytesIO(data.replace(b"\t1\t", b"\t9\t"))

    with pytest.raises(pg_native.RestoreFailed, match="rolled back"):
        pg_native.restore(target.alias, broken, info)
    assert target.sql("SELECT count(*) FROM orders_order") == [(0,)]


def test_restore__row_count_differs_from_manifest__fails_and_rolls_back(scratch):
    db = scratch()
    seed(db.alias, n=5)
    out, info = _dump(db.alias)
    info["tables"]["auth_user"]["rows"] += 1
    target = scratch(migrated=False)

    with pytest.raises(pg_native.RestoreFailed, match="auth_user 5 rows, expected 6"):
        pg_native.restore(target.alias, out, info)
    assert target.sql("SELECT count(*) FROM shop_product") == [(0,)]


def _sequence_positions(db) -> list[tuple]:
    return db.sql(
        "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' "
        "AND last_value IS NOT NULL ORDER BY 1"
    )


def test_restore__fails_after_loading_into_a_live_database__sequences_left_as_they_were(scratch):
    # setval() is not undone by a rollback: the failed restore rewound every id sequence to the
    # backup's while the rows stayed, and the app's next insert hit a duplicate key.
    db = scratch()
    seed(db.alias, n=5)
    out, info = _dump(db.alias)
    db.sql("INSERT INTO auth_group (name) SELECT 'later ' || g FROM generate_series(1, 3) g")
    before = _sequence_positions(db)  # the app went on: later ids
    info["tables"]["auth_user"]["rows"] += 1

    with pytest.raises(pg_native.RestoreFailed, match="row counts differ"):
        pg_native.restore(db.alias, out, info)

    assert _sequence_positions(db) == before
    (next_id,) = db.sql("SELECT max(id) + 1 FROM auth_group")[0]
    assert db.sql("INSERT INTO auth_group (name) VALUES ('after') RETURNING id") == [(next_id,)]


def test_engine__no_client_binaries_on_path__round_trip_still_exact(scratch, monkeypatch, tmp_path):
    db = scratch()
    seed(db.alias, n=5)
    before = db.checksums()
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump, psql, pg_restore, not even sh
    calls: list[object] = []
    import subprocess

    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(a) or 1 / 0)

    out, info = _dump(db.alias)
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    monkeypatch.undo()
    assert calls == []
    assert db.checksums() == before


def test_restore__target_has_migrations_the_backup_lacks__refuses_and_changes_nothing(scratch):
    db = scratch()
    db.sql("DELETE FROM django_migrations WHERE app = 'orders' AND name = '0002_order_status'")
    db.sql("ALTER TABLE orders_order DROP COLUMN status")
    out, info = _dump(db.alias)
    assert "0002_order_status" not in info["migrations"]["orders"]
    target = scratch()  # fully migrated: ahead of the backup
    before = target.checksums()

    with pytest.raises(CannotRun, match=r"orders\.0002_order_status"):
        pg_native.restore(target.alias, out, info)
    assert target.checksums() == before


def test_round_trip__backup_one_migration_behind_the_code__restores_that_state(scratch):
    db = scratch()
    db.sql("DELETE FROM django_migrations WHERE app = 'orders' AND name = '0002_order_status'")
    db.sql("ALTER TABLE orders_order DROP COLUMN status")
    db.sql("INSERT INTO orders_order (customer_email, created_at) VALUES ('a@b.c', now())")
    before = db.checksums()
    out, info = _dump(db.alias)
    target = scratch(migrated=False)

    pg_native.restore(target.alias, out, info)

    assert target.checksums() == before
    columns = target.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders_order'"
    )
    assert ("status",) not in columns


def test_round_trip__table_larger_than_one_chunk__split_into_records_and_exact(scratch):
    db = scratch()
    db.sql(
        "INSERT INTO shop_product (category_id, name, price, created_at, stock) "
        "SELECT 1, repeat(md5(i::text), 6) || E'\\t\\n\\\\é', i, now(), i "
        "FROM generate_series(1, 12000) i"
    )
    before = db.checksums()
    out, info = _dump(db.alias)
    assert info["tables"]["shop_product"]["rows"] == 12000
    assert _data_records(out)["shop_product"] >= 2
    db.recreate_empty()
    pg_native.restore(db.alias, out, info)
    assert db.checksums() == before


def test_restore__manifest_of_another_format__refuses_before_touching_anything(scratch):
    db = scratch()
    out, info = _dump(db.alias)
    info["format"] = "railops-native/9+copy-binary"
    target = scratch(migrated=False)

    with pytest.raises(CannotRun, match="format"):
        pg_native.restore(target.alias, out, info)
    assert target.sql("SELECT count(*) FROM pg_tables WHERE schemaname='public'") == [(0,)]


def test_restore__inside_transaction_atomic__refuses(scratch):
    from django.db import transaction

    db = scratch()
    out, info = _dump(db.alias)
    target = scratch(migrated=False)
    with transaction.atomic(using=target.alias), pytest.raises(CannotRun, match="atomic"):
        pg_native.restore(target.alias, out, info)
    target.close()


def test_restore__not_a_native_stream__restore_failed_and_nothing_changed(scratch):
    db = scratch()
    _out, info = _dump(db.alias)
    target = scratch(migrated=False)

    with pytest.raises(pg_native.RestoreFailed, match="not a railops native-engine stream"):
        pg_native.restore(target.alias, io.BytesIO(b"PGDMP\x01\x0e"), info)
    assert target.sql("SELECT count(*) FROM pg_tables WHERE schemaname='public'") == [(0,)]
