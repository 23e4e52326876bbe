"""The replica lock and the per-migration session timeouts, per database vendor.

PostgreSQL: a *session* advisory lock on a dedicated, direct psycopg connection (never through a
transaction-pooling PgBouncer: ``DATABASE_UNPOOLED_URL`` is used when set). It is acquired by
polling ``pg_try_advisory_lock`` and never by blocking inside ``pg_advisory_lock()``, which would
deadlock with ``CREATE INDEX CONCURRENTLY`` (that waits for every open transaction, including a
session blocked on the lock).

SQLite: an exclusive ``flock`` on a file next to the database, polled the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connections

from .. import conf
from ..redact import logger
from . import vendor
from .postgres.params import libpq_params
from .timeouts import bounded

LOCK_NAME = "railops.safe_migrate"
POLL_S = 0.2


class LockTimeout(Exception):
    """Another process held the migration lock for longer than MIGRATION_LOCK_WAIT."""


class LockConnectionError(Exception):
    """The dedicated lock connection could not be opened; ``__cause__`` is the driver error."""


@dataclass
class HeldLock:
    kind: str
    target: str
    waited_s: float = 0.0
    attempts: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "waited_s": round(self.waited_s, 3),
            "attempts": self.attempts,
        }


def _lock_key(dbname: str) -> int:
    """A stable signed 64-bit key for this database's migration lock."""
    digest = hashlib.sha256(f"{LOCK_NAME}:{dbname}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def pg_conninfo(alias: str, unpooled: bool = True) -> dict[str, Any]:
    """Keyword arguments for a direct psycopg connection to ``alias``.

    ``DATABASE_UNPOOLED_URL`` (Railway's and Neon's name for the direct URL) wins for the
    default alias, so the session lock is not taken through a transaction pooler.
    """
    url = os.environ.get("DATABASE_UNPOOLED_URL", "")
    timeout = max(1, round(conf.get("CONNECT_TIMEOUT")))
    if alias == "default" and url and unpooled:
        return {"conninfo": url, "connect_timeout": timeout}
    return libpq_params(alias)


@contextlib.contextmanager
def _pg_lock(
    alias: str, wait_s: float, on_wait: Callable[[float], None] | None
) -> Iterator[HeldLock]:
    import psycopg

    params = pg_conninfo(alias)
    conninfo = params.pop("conninfo", "")
    try:
        conn = psycopg.connect(conninfo, autocommit=True, application_name=LOCK_NAME, **params)
    except psycopg.Error as exc:
        source = "DATABASE_UNPOOLED_URL" if conninfo else f"DATABASES[{alias!r}]"
        raise LockConnectionError(f"the lock connection through {source} failed") from exc
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT current_database()")
        expected = cursor.fetchone()[0]
    dbname = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    if conninfo and dbname != expected:
        # DATABASE_UNPOOLED_URL names another database: a lock there would not serialize.
        logger.warning(
            "DATABASE_UNPOOLED_URL points at %s, not %s: locking through %r's settings",
            dbname,
            expected,
            alias,
        )
        conn.close()
        params = pg_conninfo(alias, unpooled=False)
        conn = psycopg.connect(autocommit=True, application_name=LOCK_NAME, **params)
        dbname = expected
    try:
        key = _lock_key(dbname)
        held = HeldLock("pg_advisory_lock", f"{dbname} key {key}")
        started = time.monotonic()
        while True:
            held.attempts += 1
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if got and got[0]:
                break
            waited = time.monotonic() - started
            if waited >= wait_s:
                raise LockTimeout(
                    f"another process held the migration lock on {dbname} for {waited:.0f}s "
                    f"(MIGRATION_LOCK_WAIT is {wait_s:g}s)"
                )
            if on_wait is not None:
                on_wait(waited)
            time.sleep(min(POLL_S, max(0.01, wait_s - waited)))
        held.waited_s = time.monotonic() - started
        logger.info("migration lock %s acquired after %.2fs", held.target, held.waited_s)
        try:
            yield held
        finally:
            try:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg.Error as exc:  # closing the session below releases it anyway
                logger.info("advisory unlock failed, closing the session: %s", exc)
    finally:
        conn.close()


def sqlite_lock_path(alias: str) -> Path:
    name = str(connections[alias].settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"railops-migrate-{digest}.lock"
    return Path(f"{name}.railops-migrate.lock")


@contextlib.contextmanager
def _sqlite_lock(
    alias: str, wait_s: float, on_wait: Callable[[float], None] | None
) -> Iterator[HeldLock]:
    path = sqlite_lock_path(alias)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        held = HeldLock("flock", str(path))
        started = time.monotonic()
        while True:
            held.attempts += 1
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait_s:
                    raise LockTimeout(
                        f"another process held the migration lock {path} for {waited:.0f}s "
                        f"(MIGRATION_LOCK_WAIT is {wait_s:g}s)"
                    ) from None
                if on_wait is not None:
                    on_wait(waited)
                time.sleep(min(POLL_S, max(0.01, wait_s - waited)))
        held.waited_s = time.monotonic() - started
        try:
            yield held
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_LOCKS = {"postgresql": _pg_lock, "sqlite": _sqlite_lock}


def migration_lock(
    alias: str,
    wait_s: float | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> contextlib.AbstractContextManager[HeldLock]:
    """Hold the migration lock of ``alias`` (polled, up to ``wait_s`` seconds).

    Raises ``LockTimeout`` when another process keeps it longer.
    """
    wait = conf.get("MIGRATION_LOCK_WAIT") if wait_s is None else wait_s
    return _LOCKS[vendor(alias)](alias, float(wait), on_wait)


# --- per-migration session timeouts ---------------------------------------------------------


@contextlib.contextmanager
def session_timeouts(alias: str, lock_timeout_ms: int, statement_timeout_ms: int) -> Iterator[None]:
    """``SET lock_timeout`` / ``statement_timeout`` on the session for one migration.

    Session-level (not ``SET LOCAL``), so non-atomic migrations get them too.
    """
    vendor(alias)  # CannotRun for a vendor railops does not serve
    connections[alias].ensure_connection()
    with bounded(alias, statement_ms=statement_timeout_ms, lock_ms=lock_timeout_ms):
        yield


LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK_DETECTED = "40P01"
QUERY_CANCELED = "57014"


def _sqlstate(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if state:
            return str(state)
        current = current.__cause__ or current.__context__
    return None


def is_lock_timeout(exc: BaseException) -> bool:
    """Worth a retry: gave up waiting for a lock (PostgreSQL 55P03), lost a deadlock (40P01),
    or SQLite's "database is locked"."""
    if _sqlstate(exc) in (LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED):
        return True
    return "database is locked" in str(exc).lower()


def is_statement_timeout(exc: BaseException) -> bool:
    return _sqlstate(exc) == QUERY_CANCELED
