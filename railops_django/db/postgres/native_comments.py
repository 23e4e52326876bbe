"""The ``COMMENT``s a native backup keeps, and the ones it refuses (used by ``native``).

Migrations rebuild the schema on restore, and with it only the comments the state sets
(``db_comment``, ``db_table_comment``). One set in ``psql`` (``COMMENT ON COLUMN ...``), or by
a tool that documents the schema, would be gone, where a ``pg_dump`` keeps it. So the comments
on the dumped tables, their columns and the views the migrations create are read inside the
backup's snapshot, recorded in the manifest (``engine_info.comments``) and set again in the
restore's transaction: the text is a literal, the names are quoted identifiers, and the kind
comes from a fixed list, so an edited manifest cannot make the restore run SQL of its own.

A comment on anything else (an index, a sequence, a constraint) names an object whose name
the migrations may not give back the same; unless an applied ``RunSQL`` names the object, it
is refused by name like the other things restoring would lose. Comments on schemas are left to
the database: the engine copies one schema, which the target already has.

This module imports nothing from ``native``; ``native`` imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from .params import quote

# relkind -> the COMMENT ON keyword, for the relations whose comments are kept.
KEPT = {"r": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
# what the manifest records, ``on`` -> keyword (the restore accepts only these)
KEYWORDS = {"table": "TABLE", "view": "VIEW", "materialized view": "MATERIALIZED VIEW"}
_ON = {keyword: on for on, keyword in KEYWORDS.items()}
_OTHER_RELATIONS = {"i": "index", "I": "index", "S": "sequence", "f": "foreign table"}


def read(cur: Any, tables: dict[str, list[str]], left_out: Collection[str]) -> list[dict[str, Any]]:
    """The comments on the dumped ``tables`` (and on their dumped columns) and on the
    current-schema views and materialized views not ``left_out``, in a stable order."""
    cur.execute(
        "SELECT c.relname, c.relkind, a.attname, d.description FROM pg_description d "
        "JOIN pg_class c ON c.oid = d.objoid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid "
        "AND d.objsubid > 0 "
        "WHERE d.classoid = 'pg_class'::regclass AND c.relkind IN ('r', 'v', 'm') "
        "ORDER BY 1, d.objsubid"
    )
    kept: list[dict[str, Any]] = []
    for name, kind, column, text in cur.fetchall():
        if kind == "r":
            if name not in tables or (column is not None and column not in tables[name]):
                continue
        elif name in left_out:
            continue
        kept.append({"on": _ON[KEPT[kind]], "name": name, "column": column, "text": text})
    return kept


def check_others(
    cur: Any, mentioned: Callable[[str], bool], refuse: Callable[[str, str], None]
) -> None:
    """Refuse the current schema's comments on indexes, sequences, foreign tables and
    constraints that no applied RunSQL names (it would set them again)."""
    cur.execute(
        "SELECT c.relname, c.relkind FROM pg_description d "
        "JOIN pg_class c ON c.oid = d.objoid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "WHERE d.classoid = 'pg_class'::regclass AND d.objsubid = 0 "
        "AND c.relkind IN ('i', 'I', 'S', 'f') ORDER BY 1"
    )
    for name, kind in cur.fetchall():
        if not mentioned(name):
            label = _OTHER_RELATIONS[kind]
            refuse(f"comment on {label} {name}", f"comment on a {label} no migration sets")
    cur.execute(
        "SELECT con.conname, c.relname FROM pg_description d "
        "JOIN pg_constraint con ON con.oid = d.objoid "
        "JOIN pg_class c ON c.oid = con.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "WHERE d.classoid = 'pg_constraint'::regclass ORDER BY 2, 1"
    )
    for name, table in cur.fetchall():
        if not mentioned(name):
            refuse(
                f"comment on constraint {name} on {table}",
                "comment on a constraint no migration sets",
            )


def apply(cur: Any, comments: list[dict[str, Any]]) -> None:
    """Set each recorded comment again (inside the restore's transaction)."""
    from psycopg import sql

    for comment in comments:
        target = quote(comment["name"])
        if comment.get("column") is None:
            keyword = KEYWORDS[comment["on"]]
        else:
            keyword, target = "COLUMN", f"{target}.{quote(comment['column'])}"
        cur.execute(
            sql.SQL("COMMENT ON {} {} IS {}").format(
                sql.SQL(keyword), sql.SQL(target), sql.Literal(comment["text"])
            )
        )
