"""Which database an alias points at, in words a backup manifest can keep and compare.

PostgreSQL: host, port, database name and the cluster's ``system_identifier`` (from
``pg_control_system()``, which PUBLIC may execute by default; a role without the privilege gets
``None`` and the identity falls back to host, port and name). SQLite: the file's absolute path.
Never a user name or a password.
"""

from __future__ import annotations

import os
from typing import Any

from django.db import DatabaseError, connections, transaction

from ..redact import logger, mask_text
from . import vendor
from .connection import apply_connect_timeout


def _postgres(alias: str) -> tuple[dict[str, Any], str | None]:
    settings = connections[alias].settings_dict
    facts: dict[str, Any] = {
        "vendor": "postgresql",
        "host": str(settings.get("HOST") or "localhost"),
        "port": int(settings.get("PORT") or 5432),
        "name": str(settings.get("NAME") or ""),
        "system_identifier": None,
    }
    apply_connect_timeout(alias)  # a server that never answers must not hold a listing
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT current_database()")
            facts["name"] = str(cursor.fetchone()[0])
    except DatabaseError as exc:
        logger.info("database identity of %r from settings only: %s", alias, exc)
        return facts, mask_text(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    try:
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            cursor.execute("SELECT system_identifier::text FROM pg_control_system()")
            facts["system_identifier"] = str(cursor.fetchone()[0])
    except DatabaseError as exc:  # no EXECUTE on pg_control_system()
        logger.info("pg_control_system() is not available: %s", exc)
    return facts, None


def _sqlite(alias: str) -> tuple[dict[str, Any], str | None]:
    name = str(connections[alias].settings_dict.get("NAME") or "")
    memory = not name or name == ":memory:" or name.startswith("file:")
    return {"vendor": "sqlite", "path": name if memory else os.path.realpath(name)}, None


_IDENTITY = {"postgresql": _postgres, "sqlite": _sqlite}


def identity(alias: str) -> dict[str, Any]:
    """The identity of the database ``alias`` points at now."""
    return reach(alias)[0]


def reach(alias: str) -> tuple[dict[str, Any], str | None]:
    """The identity, and why the database could not be reached when it could not (then the
    identity is the settings' host, port and name, without the cluster's id)."""
    return _IDENTITY[vendor(alias)](alias)


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two identities name one database (the cluster id wins over host names)."""
    if a.get("vendor") != b.get("vendor"):
        return False
    if "path" in a or "path" in b:
        return bool(a.get("path")) and a.get("path") == b.get("path")
    if a.get("name") != b.get("name"):
        return False
    if a.get("system_identifier") and b.get("system_identifier"):
        return bool(a["system_identifier"] == b["system_identifier"])
    return (a.get("host"), a.get("port")) == (b.get("host"), b.get("port"))


def key(ident: dict[str, Any]) -> str:
    """A short stable text for an identity: what ``--from-database`` takes."""
    if "path" in ident:
        return f"{ident.get('vendor')}:{ident['path']}"
    if ident.get("system_identifier"):
        return f"{ident.get('vendor')}:{ident['system_identifier']}/{ident.get('name')}"
    return f"{ident.get('vendor')}://{ident.get('host')}:{ident.get('port')}/{ident.get('name')}"


def label(ident: dict[str, Any] | None) -> str:
    """The identity in words, for list rows and refusals."""
    if not ident:
        return "identity unknown"
    if "path" in ident:
        return f"{ident.get('vendor')} file {ident['path']}"
    system = ident.get("system_identifier")
    return (
        f"{ident.get('vendor')} database {ident.get('name')} on {ident.get('host')}:"
        f"{ident.get('port')}" + (f" (system {system})" if system else "")
    )
