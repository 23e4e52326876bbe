"""Connect with a timeout, measure the round trip, and classify why a connection failed.

Shared by every command that touches the database, so a refused port or a wrong password reads
the same in railway_diagnose, db_health, safe_migrate and backup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections

from .. import conf, redact
from ..report import Finding, Severity


@dataclass(frozen=True)
class Probe:
    ok: bool
    latency_ms: float | None = None
    error: BaseException | None = None


def apply_connect_timeout(alias: str) -> None:
    """Make the next connection of ``alias`` give up after RAILOPS CONNECT_TIMEOUT seconds."""
    connection = connections[alias]
    timeout = conf.get("CONNECT_TIMEOUT")
    options = connection.settings_dict.setdefault("OPTIONS", {})
    if connection.vendor == "postgresql":
        options.setdefault("connect_timeout", max(1, round(timeout)))
    elif connection.vendor == "sqlite":
        options.setdefault("timeout", timeout)


def require(alias: str) -> None:
    """Connect now (with the timeout) and let the driver's error out: for work that needs the
    live database before anything else, such as choosing "this database's latest backup", so
    an unreachable server is reported as what it is (the classified connection finding)."""
    apply_connect_timeout(alias)
    connections[alias].ensure_connection()


def probe(alias: str) -> Probe:
    """Connect (with the timeout) and time one ``SELECT 1`` round trip."""
    apply_connect_timeout(alias)
    connection = connections[alias]
    try:
        connection.ensure_connection()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return Probe(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 2))
    except Exception as exc:
        return Probe(ok=False, error=exc)


@dataclass(frozen=True)
class Cause:
    key: str
    title: str
    fix: str


def _host(settings_dict: dict[str, Any]) -> str:
    return str(settings_dict.get("HOST") or "localhost")


def cause_of(exc: BaseException, settings_dict: dict[str, Any]) -> Cause:
    """Why a connection failed, and the fix, from the driver's message."""
    message = " ".join(str(exc).lower().split())
    host = _host(settings_dict)
    name = settings_dict.get("NAME") or "?"
    if (
        "could not translate host name" in message
        or "name or service not known" in message
        or ("nodename nor servname" in message or "temporary failure in name resolution" in message)
    ):
        if host.endswith(".railway.internal"):
            return Cause(
                "dns",
                f"{host} does not resolve here",
                "*.railway.internal names resolve only inside Railway at runtime, not during "
                "the build or from a laptop. Locally, use the database's public URL "
                "(DATABASE_PUBLIC_URL); on Railway, run this in the deployed service or the "
                "pre-deploy command, not in the build.",
            )
        return Cause(
            "dns",
            f"the database host {host} does not resolve",
            "Check HOST in DATABASE_URL: reference the database service's variable, "
            "e.g. DATABASE_URL=${{Postgres.DATABASE_URL}}.",
        )
    if "connection refused" in message:
        return Cause(
            "refused",
            f"{host} refused the connection",
            "Nothing listens on that host and port: check the port in DATABASE_URL and "
            "that the database service is running (Railway: the Postgres service is "
            "deployed and not sleeping).",
        )
    if "timeout expired" in message or "timed out" in message:
        return Cause(
            "timeout",
            f"connecting to {host} timed out",
            "The host is unreachable or overloaded: check the host and port, and that "
            "private networking is enabled when using *.railway.internal.",
        )
    if (
        "password authentication failed" in message
        or "authentication failed" in message
        or ("no password supplied" in message)
        or ("role" in message and "does not exist" in message)
        or "is not permitted to log in" in message
    ):
        return Cause(
            "auth",
            "the database rejected the credentials",
            "The password in DATABASE_URL is wrong or was rotated: reference the "
            "database's variable (${{Postgres.DATABASE_URL}}) instead of a copied URL.",
        )
    if "ssl" in message and (
        "required" in message or "no pg_hba.conf entry" in message or ("unsupported" in message)
    ):
        return Cause(
            "ssl",
            "the server requires SSL (or refuses it)",
            "Add ?sslmode=require to DATABASE_URL (or OPTIONS={'sslmode': 'require'}), "
            "or sslmode=disable for a server without SSL.",
        )
    if (
        "too many connections" in message
        or "too many clients" in message  # PostgreSQL's own words for max_connections
        or "remaining connection slots" in message
    ):
        return Cause(
            "too_many_connections",
            "the server has no connection slots left",
            "Lower gunicorn workers x threads x replicas, set CONN_MAX_AGE, or put a "
            "pooler (PgBouncer) in front; run db_health to see who holds connections.",
        )
    if "does not exist" in message and "database" in message:
        return Cause(
            "no_database",
            f"database {name!r} does not exist",
            f"Create it (createdb {name}) or fix the database name at the end of DATABASE_URL.",
        )
    if "database is locked" in message or "database table is locked" in message:
        timeout = (settings_dict.get("OPTIONS") or {}).get("timeout")
        waited = f" (waited {timeout:g} s)" if isinstance(timeout, int | float) else ""
        return Cause(
            "locked",
            f"SQLite {name} is locked by another connection{waited}",
            "Another process holds a write lock (a long transaction, a migrate, a shell): "
            "retry when it has finished. In rollback-journal mode a writer blocks every "
            "reader: switch to WAL (OPTIONS={'init_command': 'PRAGMA journal_mode=WAL;'}) "
            "and raise OPTIONS 'timeout'.",
        )
    if "unable to open database file" in message:
        return Cause(
            "no_database",
            f"SQLite cannot open {name}",
            "The directory does not exist or is not writable: create it, or on Railway "
            "mount a volume and put the file there.",
        )
    return Cause(
        "other",
        "the database connection failed",
        "Read the error above; run railway_diagnose for the full picture.",
    )


def failure_finding(alias: str, exc: BaseException, id_prefix: str, rank: int = 0) -> Finding:
    """One critical finding for a failed connection: cause, masked error, fix."""
    settings_dict = connections[alias].settings_dict
    cause = cause_of(exc, settings_dict)
    verb = "use" if cause.key == "locked" else "connect to"  # connected, then kept waiting
    return Finding(
        id=f"{id_prefix}.connect.{cause.key}",
        severity=Severity.CRITICAL,
        title=f"Cannot {verb} database {alias!r}: {cause.title}",
        detail=redact.mask_exception(exc),
        fix=cause.fix,
        rank=rank,
        data={"alias": alias, "cause": cause.key},
    )


def _database_errors(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes that are driver or Django database errors."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return [
        e
        for e in seen
        if isinstance(e, DatabaseError)
        or type(e).__module__.split(".")[0] in ("psycopg", "psycopg2", "sqlite3")
    ]


def _raised_while_connecting(exc: BaseException) -> bool:
    """Whether ``exc`` came out of the backend's ``get_new_connection`` (Django's connect)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "get_new_connection":
            return True
        tb = tb.tb_next
    return False


def connection_failure(exc: BaseException, alias: str, id_prefix: str) -> Finding | None:
    """The classified finding when ``exc`` (or its cause) is a failed connection, else None.

    A failure counts when ``cause_of`` recognises it, or when it was raised while connecting
    (whatever the driver said); a lock timeout or a bad query stays the error it is.
    """
    if alias not in connections:
        return None
    settings_dict = connections[alias].settings_dict
    errors = _database_errors(exc)
    for error in errors:
        if cause_of(error, settings_dict).key != "other":
            return failure_finding(alias, error, id_prefix, rank=0)
    for error in errors:
        if _raised_while_connecting(error):
            return failure_finding(alias, error, id_prefix, rank=0)
    return None
