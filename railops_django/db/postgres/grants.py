"""The privileges a ``pg_dump``-engine restore keeps: the live database's, granted again.

``pg_restore --clean`` drops and recreates every table, view, sequence and schema of the
archive, and restores with ``--no-privileges`` (the archive's roles may not exist where it is
restored, and one missing role would fail the whole single-transaction restore). So a
``GRANT SELECT ... TO reporting`` made on the live database was gone after an in-place
restore, and the reporting tool got "permission denied". ``read`` takes the privileges granted
to roles other than each object's owner (tables, views, sequences, their columns, schemas)
before the restore; ``grant_again`` grants them after it, on the objects that exist again, in
one transaction, each in a savepoint so that one that fails is reported and the rest go on.

The native engine needs none of this: it restores in place only at the backup's migration
state, emptying the tables rather than dropping them, so their privileges stay.

The statements are built from the live catalogue, never from a file: privileges from a fixed
list, names quoted as identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .params import SYSTEM_SCHEMAS, qualified, quote

PRIVILEGES = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "USAGE"}
    | {"CREATE", "MAINTAIN"}
)
_GRANTEE = "CASE WHEN x.grantee = 0 THEN NULL ELSE pg_get_userbyid(x.grantee) END"


@dataclass(frozen=True)
class Grant:
    """One privilege on one object: ``kind`` TABLE, SEQUENCE or SCHEMA; ``grantee`` None is
    PUBLIC."""

    kind: str
    schema: str
    name: str
    column: str | None
    privilege: str
    grantee: str | None
    grantable: bool

    def target(self) -> str:
        return quote(self.schema) if self.kind == "SCHEMA" else qualified(self.schema, self.name)

    def statement(self) -> str:
        what = self.privilege + (f" ({quote(self.column)})" if self.column else "")
        to = "PUBLIC" if self.grantee is None else quote(self.grantee)
        option = " WITH GRANT OPTION" if self.grantable else ""
        return f"GRANT {what} ON {self.kind} {self.target()} TO {to}{option}"

    def label(self) -> str:
        on = self.schema if self.kind == "SCHEMA" else f"{self.schema}.{self.name}"
        column = f" ({self.column})" if self.column else ""
        return f"{self.privilege}{column} on {on} to {self.grantee or 'PUBLIC'}"


def read(cur: Any) -> list[Grant]:
    """The privileges granted to roles other than the owner, outside the system schemas."""
    cur.execute(
        "SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, n.nspname, "
        f"c.relname, NULL::name, x.privilege_type, {_GRANTEE}, x.is_grantable "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) x "
        f"WHERE {SYSTEM_SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
        "AND x.grantee <> c.relowner "
        "UNION ALL "
        "SELECT 'TABLE', n.nspname, c.relname, a.attname, x.privilege_type, "
        f"{_GRANTEE}, x.is_grantable FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace, "
        f"aclexplode(a.attacl) x WHERE {SYSTEM_SCHEMAS} AND a.attnum > 0 AND NOT a.attisdropped "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND x.grantee <> c.relowner "
        "UNION ALL "
        f"SELECT 'SCHEMA', n.nspname, '', NULL::name, x.privilege_type, {_GRANTEE}, "
        "x.is_grantable FROM pg_namespace n, aclexplode(n.nspacl) x "
        f"WHERE {SYSTEM_SCHEMAS} AND x.grantee <> n.nspowner "
        "ORDER BY 2, 3, 4 NULLS FIRST, 5, 6"
    )
    return [Grant(*row) for row in cur.fetchall() if row[4] in PRIVILEGES]


def _exists(cur: Any, grant: Grant) -> bool:
    if grant.kind == "SCHEMA":
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [grant.schema])
    elif grant.column is None:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [grant.target()])
        return bool(cur.fetchone()[0])
    else:
        cur.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s "
            "AND NOT attisdropped",
            [grant.target(), grant.column],
        )
    return cur.fetchone() is not None


def grant_again(conn: Any, grants: list[Grant]) -> tuple[int, list[str]]:
    """Grant each of ``grants`` on ``conn`` (a psycopg connection) where its object exists
    again: (how many were granted, what could not be, with why)."""
    import psycopg

    granted, lost = 0, []
    with conn.transaction(), conn.cursor() as cur:
        for grant in grants:
            if not _exists(cur, grant):
                lost.append(f"{grant.label()}: not in the backup")
                continue
            try:
                with conn.transaction():  # a savepoint
                    cur.execute(grant.statement())
            except psycopg.Error as exc:
                lost.append(f"{grant.label()}: {type(exc).__name__}")
                continue
            granted += 1
    return granted, lost
