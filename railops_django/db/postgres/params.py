"""libpq parameters for a direct psycopg connection, built once from Django's own settings.

pg_dump/pg_restore, the native engine and the migration lock each open a connection of their
own beside Django's. They all start from ``get_connection_params()`` (so OPTIONS such as
``sslmode`` or ``service`` mean what they mean to Django) without Django's driver-only keys.
The password stays a keyword argument: it never enters a conninfo string that could be logged.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

from ... import conf

# Keys get_connection_params() adds for Django's own use of psycopg, not for libpq.
_DJANGO_ONLY = ("context", "cursor_factory", "server_side_binding", "prepare_threshold")


def libpq_params(alias: str, dbname: str | None = None) -> dict[str, Any]:
    params = dict(connections[alias].get_connection_params())
    for key in _DJANGO_ONLY:
        params.pop(key, None)
    if dbname:
        params["dbname"] = dbname
    if params.get("port") is not None:
        params["port"] = str(params["port"])
    params.setdefault("connect_timeout", max(1, round(conf.get("CONNECT_TIMEOUT"))))
    return params


def raw_connection(alias: str, dbname: str | None = None) -> Any:
    """A new autocommit psycopg connection to ``alias`` (or its server's ``dbname``)."""
    connection = connections[alias]
    raw = connection.get_new_connection(libpq_params(alias, dbname))
    raw.autocommit = True
    return raw


# The schemas a pg_dump leaves out, as a condition on ``pg_namespace n``: the native engine's
# coverage and the privileges a restore grants again both skip them.
SYSTEM_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'"


def quote(name: str) -> str:
    """``name`` as an SQL identifier: double-quoted, embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    """``"schema"."table"``, each part quoted as an SQL identifier."""
    return f"{quote(schema)}.{quote(table)}"
