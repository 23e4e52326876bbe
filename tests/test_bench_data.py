"""The backup benchmark's data stays realistic (issue 15, point 12).

``bench/backup_bench_data.sql`` is what the backup figures in bench/README.md are measured on.
Run at a small scale in a scratch database, it must still give what the README says it gives:
skewed vocabularies, nested JSONB profiles, orders whose line items snapshot the catalogue with
power-law popularity, and events in sessions. A generator that drifted into uniform or
sequential data would make every figure easier than real data and nobody would notice.
"""

from __future__ import annotations

import os
from typing import Any

import psycopg
import pytest

from bench import backup_bench
from railops_django.db.locks import pg_conninfo

pytestmark = pytest.mark.postgres


def _connect(dbname: str | None = None) -> psycopg.Connection[Any]:
    params = pg_conninfo("default")
    params.pop("conninfo", None)
    params["dbname"] = dbname or "postgres"
    return psycopg.connect(autocommit=True, **params)


@pytest.fixture(scope="module")
def shop() -> Any:
    """The generator at 2 % scale (2,000 users, 4,000 orders, 18,000 events), once."""
    name = f"railops_bench_data_{os.getpid()}"
    with _connect() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with _connect(name) as conn:
            conn.execute(backup_bench.data_sql(0.02))
            yield conn
    finally:
        with _connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _one(conn: Any, sql: str) -> Any:
    return conn.execute(sql).fetchone()


def test_bench_data__tables_and_counts_at_the_scale_asked(shop):
    counts = {
        table: _one(shop, f"SELECT count(*) FROM {table}")[0]
        for table in ("accounts_user", "catalog_product", "orders_order", "analytics_event")
    }
    assert counts == {
        "accounts_user": 2_000,
        "catalog_product": 50_000,
        "orders_order": 4_000,
        "analytics_event": 18_000,
    }
    # the generator's helpers are gone: the dump holds only the shop
    assert _one(shop, "SELECT to_regclass('vocab')")[0] is None


def test_bench_data__users_drawn_with_skew_and_nested_profiles(shop):
    distinct, top_share = _one(
        shop,
        "SELECT count(DISTINCT first_name), max(c)::float / sum(c) FROM "
        "(SELECT first_name, count(*) c FROM accounts_user GROUP BY 1) s",
    )
    assert distinct > 60  # a vocabulary, not a handful
    assert top_share > 2 / distinct  # the most common name well above a uniform share
    assert _one(shop, "SELECT count(DISTINCT email) FROM accounts_user")[0] > 1_900
    nested = _one(
        shop,
        "SELECT count(*) FROM accounts_user WHERE profile #>> '{address,city}' = city "
        "AND profile #> '{preferences}' ? 'language' AND profile #> '{loyalty}' ? 'tier'",
    )[0]
    assert nested == 2_000


def test_bench_data__order_lines_snapshot_the_catalogue_by_power_law(shop):
    # every line repeats its product's title and price as they were
    mismatched = _one(
        shop,
        "SELECT count(*) FROM orders_order o, jsonb_array_elements(o.lines) line "
        "LEFT JOIN catalog_product p ON p.sku = line ->> 'sku' "
        "WHERE p.title IS DISTINCT FROM line ->> 'title' "
        "OR p.price IS DISTINCT FROM (line ->> 'unit_price')::numeric",
    )[0]
    assert mismatched == 0
    sizes = dict(
        shop.execute(
            "SELECT jsonb_array_length(lines), count(*) FROM orders_order GROUP BY 1"
        ).fetchall()
    )
    assert set(sizes) == {1, 2, 3, 4, 5}
    top, distinct, lines = _one(
        shop,
        "SELECT max(c), count(*), sum(c)::int FROM (SELECT line ->> 'sku', count(*) c "
        "FROM orders_order, jsonb_array_elements(lines) line GROUP BY 1) s",
    )
    # a few best sellers and a long tail: the best seller sells hundreds of times the
    # average product, and far fewer products are sold than lines were
    assert top > 100 * lines / 50_000
    assert distinct < lines * 0.8


def test_bench_data__events_come_in_sessions_with_one_address_and_agent(shop):
    sessions, per_session, mixed = _one(
        shop,
        "SELECT count(*), avg(n), count(*) FILTER (WHERE ips > 1 OR agents > 1) FROM "
        "(SELECT session_id, count(*) n, count(DISTINCT ip) ips, count(DISTINCT user_agent) "
        "agents FROM analytics_event GROUP BY 1) s",
    )
    assert 12 <= per_session <= 24
    assert mixed == 0
    assert sessions > 500
    kinds = _one(
        shop,
        "SELECT count(DISTINCT split_part(path, '/', 2)), count(DISTINCT user_agent) "
        "FROM analytics_event",
    )
    assert kinds[0] >= 6 and kinds[1] >= 15
