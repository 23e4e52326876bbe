"""The one helper for statement and lock timeouts on a connection.

``bounded(alias, statement_ms=..., lock_ms=...)`` sets them for what runs inside and resets them
on the way out. With ``transaction_local`` and inside a transaction, they are ``SET LOCAL`` and end
with it. PostgreSQL only: SQLite has one writer and no per-statement timeout (Django's busy
timeout applies), so there it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

from .. import redact
from ..redact import logger

_SETS_TIMEOUTS = ("postgresql",)


@contextmanager
def bounded(
    alias: str,
    *,
    statement_ms: int,
    lock_ms: int | None = None,
    transaction_local: bool = False,
) -> Iterator[None]:
    """``statement_timeout`` (and ``lock_timeout`` when given) on ``alias`` while inside."""
    connection = connections[alias]
    if connection.vendor not in _SETS_TIMEOUTS:
        yield
        return
    local = transaction_local and connection.in_atomic_block
    scope = "LOCAL " if local else ""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if lock_ms is not None:
            cursor.execute(f"SET {scope}lock_timeout = {int(lock_ms)}")
        cursor.execute(f"SET {scope}statement_timeout = {int(statement_ms)}")
    try:
        yield
    finally:
        if not local:
            _reset(alias, lock_ms is not None)


def _reset(alias: str, lock: bool) -> None:
    connection = connections[alias]
    if connection.connection is None or connection.needs_rollback:
        return  # a new connection starts with the server's defaults; a broken one is rolled back
    try:
        with connection.cursor() as cursor:
            if lock:
                cursor.execute("RESET lock_timeout")
            cursor.execute("RESET statement_timeout")
    except Exception as exc:  # the connection broke: the next use reconnects anyway
        logger.warning("could not reset timeouts on %s: %s", alias, redact.mask_exception(exc))
