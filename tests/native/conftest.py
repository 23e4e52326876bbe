"""Scratch PostgreSQL databases (``<database>_native_*``) for the native engine's tests.

Each scratch database gets a temporary connection alias, is migrated in-process with
``call_command("migrate")`` and is dropped afterwards.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def admin(sql: str) -> None:
    with psycopg.connect(**PG, autocommit=True) as conn:
        conn.execute(sql)


def sql(db: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(**{**PG, "dbname": db}, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def table_checksums(db: str) -> dict[str, tuple[int, str]]:
    """Per public table: row count and md5 over its ordered row texts (like lib.sh)."""
    result: dict[str, tuple[int, str]] = {}
    for (table,) in sql(db, "SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1"):
        count, digest = sql(
            db,
            f"SELECT count(*), coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '-') "
            f'FROM (SELECT t::text AS x FROM "{table}" t) s',
        )[0]
        result[table] = (count, digest)
    return result


class Scratch:
    """One scratch database and its Django alias."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.alias = name

    def create(self, template: str | None = None) -> None:
        admin(f'CREATE DATABASE "{self.name}"' + (f' TEMPLATE "{template}"' if template else ""))
        settings = dict(connections.settings["default"])
        settings.update({"NAME": self.name, "HOST": "127.0.0.1", "PORT": "5432"})
        settings["TEST"] = {**settings.get("TEST", {}), "NAME": self.name}
        connections.settings[self.alias] = settings

    def recreate_empty(self) -> None:
        self.close()
        admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        admin(f'CREATE DATABASE "{self.name}"')

    def migrate(self) -> None:
        call_command("migrate", database=self.alias, verbosity=0, interactive=False)
        self.close()

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        return sql(self.name, statement, params)

    def checksums(self) -> dict[str, tuple[int, str]]:
        return table_checksums(self.name)

    def schema(self) -> list[tuple[Any, ...]]:
        """Every index and constraint definition: what restore must leave exactly as it was."""
        return self.sql(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "UNION ALL SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "|| condeferrable::text || condeferred::text FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2, 3"
        )

    def close(self) -> None:
        if self.alias in connections.settings:
            connections[self.alias].close()

    def drop(self) -> None:
        self.close()
        with contextlib.suppress(KeyError):
            del connections[self.alias]
        connections.settings.pop(self.alias, None)
        admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _name() -> str:
    # Named after the run's own database (railops_native_* when it is "railops"), so parallel
    # runs on one server each create and drop only their own.
    base = str(connections.settings["default"].get("NAME") or "railops").removeprefix("test_")
    return f"{base[:30]}_native_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def migrated_template(django_db_blocker) -> Iterator[str]:
    """One database migrated once per session; scratch databases are copies of it."""
    template = Scratch(_name())
    with django_db_blocker.unblock():
        template.create()
        template.migrate()
        template.close()
        yield template.name
        template.drop()


@pytest.fixture
def scratch(django_db_blocker, migrated_template) -> Iterator[Any]:
    """A factory of migrated-or-empty scratch databases, all dropped at the end."""
    made: list[Scratch] = []

    def make(migrated: bool = True) -> Scratch:
        db = Scratch(_name())
        db.create(template=migrated_template if migrated else None)
        made.append(db)
        return db

    with django_db_blocker.unblock():
        yield make
        for db in made:
            db.drop()
