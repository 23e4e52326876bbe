"""Live PostgreSQL facts about the tables a migration plan touches, read before any DDL runs.

Sizes come from ``reltuples`` and the relation size (no ``count(*)``); NULL and duplicate
checks stop at the first row found, and duplicate checks are skipped on big tables.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

from . import vendor

DUPLICATE_CHECK_MAX_ROWS = 1_000_000
QUERY_PREVIEW = 120


def _quote(connection: Any, name: str) -> str:
    return str(connection.ops.quote_name(name))


def _sizes(cursor: Any, tables: list[str]) -> dict[str, dict[str, Any]]:
    cursor.execute(
        """
        SELECT c.relname, c.reltuples, pg_total_relation_size(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(%s)
          AND n.nspname = ANY(current_schemas(false))
        """,
        [tables],
    )
    return {
        name: {"rows_estimate": max(0.0, float(rows)), "bytes": int(size)}
        for name, rows, size in cursor.fetchall()
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


def preflight(alias: str, touches: list[tuple[str, str, tuple[str, ...]]]) -> dict[str, Any] | None:
    """Facts for ``touches`` (``(table, kind, columns)``); None when the vendor has none to offer.

    Returns ``{"tables": {table: size}, "lock_holders": [...], "invalid_indexes": [...],
    "nulls": [(table, column)], "duplicates": [(table, columns)], "skipped": [...]}``.
    """
    if vendor(alias) != "postgresql" or not touches:
        return None
    connection = connections[alias]
    tables = sorted({t for t, _, _ in touches})
    out: dict[str, Any] = {"nulls": [], "duplicates": [], "skipped": []}
    with connection.cursor() as cursor:
        out["tables"] = _sizes(cursor, tables)
        out["lock_holders"] = _lock_holders(cursor, tables)
        out["invalid_indexes"] = _invalid_indexes(cursor, tables)
        columns_cache: dict[str, set[str]] = {}
        for table, kind, columns in touches:
            if table not in out["tables"] or not columns:
                continue
            existing = columns_cache.setdefault(table, _existing_columns(cursor, table))
            if not set(columns) <= existing:
                continue
            if kind == "set_not_null":
                for column in columns:
                    if _has_nulls(connection, cursor, table, column):
                        out["nulls"].append((table, column))
            elif kind == "add_unique":
                if out["tables"][table]["rows_estimate"] > DUPLICATE_CHECK_MAX_ROWS:
                    out["skipped"].append(f"duplicates in {table}({', '.join(columns)}): big table")
                elif _has_duplicates(connection, cursor, table, columns):
                    out["duplicates"].append((table, columns))
    return out
