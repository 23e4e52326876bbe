"""Schema drift: what the installed models need versus what the live database has.

``django_migrations`` can say every migration is applied while the tables say otherwise: a
column dropped by hand, a restore of an older dump, a migration faked with ``--fake``. Django's
introspection API is vendor-neutral, so this module needs no per-vendor code; it lives in
``db/`` because it reads the live schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.db import connections, models, router

from ..report import Finding, Severity
from .timeouts import bounded


def _needed_models(alias: str, app_labels: list[str] | None) -> list[type[models.Model]]:
    wanted = set(app_labels) if app_labels is not None else None
    out = []
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.swapped:
            continue
        if wanted is not None and meta.app_label not in wanted:
            continue
        if not router.allow_migrate_model(alias, model):
            continue
        out.append(model)
    return out


def _columns(alias: str, table: str) -> dict[str, bool]:
    """column name -> nullable, from the live database."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, table)
    return {col.name: bool(col.null_ok) for col in description}


def drift(alias: str, app_labels: list[str] | None = None) -> list[Finding]:
    """Tables, columns and NULL-ness the installed managed models need but the database lacks.

    Returns one finding per difference (ids ``schema.drift.missing_table``,
    ``schema.drift.missing_column``, ``schema.drift.nullability``); an empty list when the
    live schema matches.
    """
    connection = connections[alias]
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    lowered = {t.lower(): t for t in tables}
    findings: list[Finding] = []
    for model in _needed_models(alias, app_labels):
        meta = model._meta
        table = meta.db_table
        live_table = table if table in tables else lowered.get(table.lower())
        label = meta.label
        if live_table is None:
            findings.append(
                Finding(
                    id="schema.drift.missing_table",
                    severity=Severity.CRITICAL,
                    title=f"Table {table} ({label}) is missing from the database",
                    detail=f"The model {label} needs table {table!r}, which database "
                    f"{alias!r} does not have, whatever django_migrations says. Every query "
                    "on it fails with 'relation does not exist' (a 500).",
                    fix=_fix(meta.app_label),
                    rank=10,
                    data={"alias": alias, "model": label, "table": table},
                )
            )
            continue
        columns = _columns(alias, live_table)
        lowered_cols = {c.lower(): c for c in columns}
        for field in meta.local_concrete_fields:
            column = field.column
            if column is None:
                continue
            live = column if column in columns else lowered_cols.get(column.lower())
            data: dict[str, Any] = {
                "alias": alias,
                "model": label,
                "table": table,
                "column": column,
                "field": field.name,
            }
            if live is None:
                findings.append(
                    Finding(
                        id="schema.drift.missing_column",
                        severity=Severity.CRITICAL,
                        title=f"Column {table}.{column} ({label}.{field.name}) is missing",
                        detail=f"The model field {label}.{field.name} needs column "
                        f"{column!r} in {table!r}, but the live database lacks it, although "
                        "the migrations are recorded as applied. Every query that selects "
                        "this model fails (a 500).",
                        fix=_fix(meta.app_label),
                        rank=10,
                        data=data,
                    )
                )
                continue
            db_nullable = columns[live]
            if db_nullable != bool(field.null) and not field.primary_key:
                want = "NULL" if field.null else "NOT NULL"
                have = "NULL" if db_nullable else "NOT NULL"
                findings.append(
                    Finding(
                        id="schema.drift.nullability",
                        severity=Severity.WARNING,
                        title=f"Column {table}.{column} is {have}; the model says {want}",
                        detail=(
                            f"Saving {label} with an empty {field.name} fails with an "
                            "IntegrityError."
                            if not db_nullable
                            else f"The database accepts NULL in {column} that the model "
                            "never expects; code that assumes a value can crash."
                        ),
                        fix=_fix(meta.app_label),
                        rank=20,
                        data={**data, "model_null": bool(field.null), "db_null": db_nullable},
                    )
                )
    return findings


def _fix(app_label: str) -> str:
    return (
        f"Compare 'python manage.py sqlmigrate {app_label} <migration>' with the table; then "
        "either re-apply the change by hand, or roll the app back with 'python manage.py "
        f"migrate {app_label} <previous> --fake' and 'python manage.py migrate {app_label}'. "
        "Take a backup first."
    )


# The connection budget probe needs the server's connection limit; only db/ branches on vendor.
def _postgresql_connection_limit(alias: str) -> tuple[int, int]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int"
        )
        max_connections, reserved = cursor.fetchone()
    return int(max_connections), int(reserved)


_CONNECTION_LIMIT = {"postgresql": _postgresql_connection_limit}


def connection_limit(alias: str) -> tuple[int, int] | None:
    """(max_connections, reserved for superusers), or None where the server has no such limit."""
    reader = _CONNECTION_LIMIT.get(connections[alias].vendor)
    return reader(alias) if reader else None


@contextmanager
def statement_timeout(alias: str, seconds: float) -> Iterator[None]:
    """Bound every statement run inside to ``seconds`` (PostgreSQL; SQLite has its busy timeout).

    Inside a transaction the setting is ``SET LOCAL`` and ends with it; outside, it is reset.
    """
    with bounded(alias, statement_ms=max(int(seconds * 1000), 1), transaction_local=True):
        yield
