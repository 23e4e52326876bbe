"""Live PostgreSQL facts about the tables a migration plan touches, read before any DDL runs.

Sizes come from ``reltuples``, ``relpages`` and the relation size, and from a bounded exact
``count(*)`` when the estimate is small or stale (never analysed); on SQLite from the bounded
count alone. NULL and duplicate checks stop at the first row found, and duplicate checks are
skipped on big tables.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

from . import vendor

DUPLICATE_CHECK_MAX_ROWS = 1_000_000
QUERY_PREVIEW = 120
# Below this estimate (or when never analysed) the rows are counted, up to the count limit.
EXACT_COUNT_BELOW = 1_000_000


def _quote(connection: Any, name: str) -> str:
    return str(connection.ops.quote_name(name))


def _bounded_count(connection: Any, cursor: Any, table: str, limit: int) -> int:
    """``count(*)``, but reading at most ``limit`` rows."""
    cursor.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {_quote(connection, table)} LIMIT %s) t", [limit]
    )
    return int(cursor.fetchone()[0])


def _pg_sizes(connection: Any, cursor: Any, tables: list[str], limit: int) -> dict[str, Any]:
    cursor.execute(
        """
        SELECT c.relname, c.reltuples, c.relpages, pg_total_relation_size(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(%s)
          AND n.nspname = ANY(current_schemas(false))
        """,
        [tables],
    )
    out: dict[str, dict[str, Any]] = {}
    for name, reltuples, relpages, size in cursor.fetchall():
        estimate = float(reltuples)
        facts: dict[str, Any] = {
            "rows_estimate": max(0.0, estimate),
            "bytes": int(size),
            "relpages": int(relpages),
            "counted": False,
        }
        if estimate < 0 or estimate < EXACT_COUNT_BELOW:  # never analysed, or small: count
            counted = _bounded_count(connection, cursor, name, limit)
            facts["counted"] = True
            facts["rows_estimate"] = float(counted if counted < limit else max(counted, estimate))
        out[name] = facts
    return out


def table_sizes(
    alias: str, tables: list[str], count_limit: int = EXACT_COUNT_BELOW
) -> dict[str, Any]:
    """``{table: {"rows_estimate", "bytes", "counted"}}`` for the tables that exist.

    PostgreSQL: the planner's estimate, made exact by a bounded count when it is small or
    stale. SQLite (no statistics): the bounded count.
    """
    if not tables:
        return {}
    connection = connections[alias]
    with connection.cursor() as cursor:
        if vendor(alias) == "postgresql":
            return _pg_sizes(connection, cursor, sorted(set(tables)), count_limit)
        existing = set(connection.introspection.table_names(cursor))
        return {
            table: {
                "rows_estimate": float(_bounded_count(connection, cursor, table, count_limit)),
                "bytes": 0,
                "counted": True,
            }
            for table in sorted(set(tables))
            if table in existing
        }


def _lock_holders(cursor: Any, tables: list[str]) -> list[dict[str, Any]]:
    cursor.execute(
        """
        SELECT c.relname, l.pid, l.mode, l.granted, a.state,
               EXTRACT(EPOCH FROM now() - a.xact_start)::float AS xact_age_s,
               left(a.query, %s)
        FROM pg_locks l
        JOIN pg_class c ON c.oid = l.relation
        JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.pid <> pg_backend_pid() AND c.relname = ANY(%s)
          AND a.backend_type = 'client backend'
        ORDER BY xact_age_s DESC NULLS LAST
        """,
        [QUERY_PREVIEW, tables],
    )
    return [
        {
            "table": table,
            "pid": pid,
            "mode": mode,
            "granted": granted,
            "state": state,
            "xact_age_s": round(age, 1) if age is not None else None,
            "query": " ".join((query or "").split()),
        }
        for table, pid, mode, granted, state, age, query in cursor.fetchall()
    ]


def _invalid_indexes(cursor: Any, tables: list[str]) -> list[dict[str, str]]:
    cursor.execute(
        """
        SELECT t.relname, i.relname
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        WHERE NOT x.indisvalid AND t.relname = ANY(%s)
        """,
        [tables],
    )
    return [{"table": t, "index": i} for t, i in cursor.fetchall()]


def _has_nulls(connection: Any, cursor: Any, table: str, column: str) -> bool:
    cursor.execute(
        f"SELECT 1 FROM {_quote(connection, table)} "
        f"WHERE {_quote(connection, column)} IS NULL LIMIT 1"
    )
    return cursor.fetchone() is not None


def _has_duplicates(connection: Any, cursor: Any, table: str, columns: tuple[str, ...]) -> bool:
    cols = ", ".join(_quote(connection, c) for c in columns)
    not_null = " AND ".join(f"{_quote(connection, c)} IS NOT NULL" for c in columns)
    cursor.execute(
        f"SELECT 1 FROM {_quote(connection, table)} WHERE {not_null} "
        f"GROUP BY {cols} HAVING count(*) > 1 LIMIT 1"
    )
    return cursor.fetchone() is not None


def _existing_columns(cursor: Any, table: str) -> set[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND table_schema = ANY(current_schemas(false))",
        [table],
    )
    return {row[0] for row in cursor.fetchall()}


def preflight(
    alias: str, touches: list[tuple[Any, ...]], sizes: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Facts for ``touches`` (``(table, kind, columns[, fixed_by])``); None when the vendor has
    none to offer. ``fixed_by`` names a data step (RunSQL/RunPython) that runs before the risky
    one in the same migration: a NULL or duplicate found now is then reported with it.

    Returns ``{"tables": {table: size}, "lock_holders": [...], "invalid_indexes": [...],
    "nulls": [(table, column, fixed_by)], "duplicates": [(table, columns, fixed_by)],
    "skipped": [...]}``.
    """
    if vendor(alias) != "postgresql" or not touches:
        return None
    connection = connections[alias]
    tables = sorted({t[0] for t in touches})
    out: dict[str, Any] = {"nulls": [], "duplicates": [], "skipped": []}
    out["tables"] = (
        {t: sizes[t] for t in tables if t in sizes}
        if sizes is not None
        else table_sizes(alias, tables)
    )
    with connection.cursor() as cursor:
        out["lock_holders"] = _lock_holders(cursor, tables)
        out["invalid_indexes"] = _invalid_indexes(cursor, tables)
        columns_cache: dict[str, set[str]] = {}
        for touch in touches:
            table, kind, columns = touch[0], touch[1], tuple(touch[2])
            fixed_by = touch[3] if len(touch) > 3 else None
            if table not in out["tables"] or not columns:
                continue
            existing = columns_cache.setdefault(table, _existing_columns(cursor, table))
            if not set(columns) <= existing:
                continue
            if kind == "set_not_null":
                for column in columns:
                    if _has_nulls(connection, cursor, table, column):
                        out["nulls"].append((table, column, fixed_by))
            elif kind == "add_unique":
                if out["tables"][table]["rows_estimate"] > DUPLICATE_CHECK_MAX_ROWS:
                    out["skipped"].append(f"duplicates in {table}({', '.join(columns)}): big table")
                elif _has_duplicates(connection, cursor, table, columns):
                    out["duplicates"].append((table, columns, fixed_by))
    return out
