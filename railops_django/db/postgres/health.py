"""PostgreSQL health: a fixed set of catalog and statistics queries, read-only and cheap.

Cost rules (checked by tests and bench/health_bench.py):
- one short read-only transaction; ``statement_timeout`` and ``lock_timeout`` are SET LOCAL;
- a fixed list of queries, whatever the number of tables, indexes or sequences: every
  per-object query has a ``LIMIT`` and sizes are computed only for the rows kept;
- no lock beyond AccessShare (sequences are read with ``SELECT`` through ``query_to_xml``,
  not with ``pg_sequence_last_value``, which takes RowExclusive);
- each query runs in its own savepoint, so a missing privilege or a timeout costs one metric,
  never the run.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connections, transaction

from ...report import Finding, Severity
from ..measurement import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, Measurement, Sample
from .metrics.connections import Q_CONNECTIONS, measure_connections
from .metrics.indexes import (
    Q_DUPLICATE_INDEXES,
    Q_INVALID_INDEXES,
    Q_UNUSED_INDEXES,
    UNUSED_INDEX_BYTES,
    measure_duplicate_indexes,
    measure_invalid_indexes,
    measure_unused_indexes,
)
from .metrics.maintenance import (
    LARGE_TABLE_ROWS,
    Q_FREEZE,
    Q_SEQUENCES,
    Q_VACUUM,
    measure_sequences,
    measure_vacuum,
    measure_wraparound,
)
from .metrics.queries import (
    Q_ACTIVITY,
    Q_BLOCKED,
    Q_STATEMENTS,
    Q_STATS,
    measure_activity,
    measure_blocked,
    measure_statements,
    measure_stats,
)
from .metrics.replication import Q_SLOTS, measure_slots
from .metrics.storage import Q_LARGEST, measure_size

GRANT = "pg_monitor"


Q_FACTS = """
SELECT current_database() AS db, current_user AS role,
  current_setting('server_version') AS version,
  coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser,
  pg_has_role(current_user, 'pg_monitor', 'MEMBER') AS monitor,
  current_setting('max_connections')::int AS max_connections,
  current_setting('superuser_reserved_connections')::int AS reserved,
  (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user) AS role_limit,
  (SELECT datconnlimit FROM pg_database WHERE datname = current_database()) AS db_limit,
  pg_database_size(current_database()) AS db_bytes,
  (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl,
  inet_server_addr()::text AS server_addr,
  current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age,
  (SELECT datname FROM pg_database ORDER BY age(datfrozenxid) DESC LIMIT 1) AS oldest_xid_db,
  (SELECT max(age(datfrozenxid)) FROM pg_database) AS oldest_xid_age,
  EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS pgss_installed,
  EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements')
    AS pgss_available,
  (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload
"""


def _queries(facts: dict[str, Any] | None) -> list[tuple[str, str, dict[str, Any]]]:
    queries: list[tuple[str, str, dict[str, Any]]] = [
        ("connections", Q_CONNECTIONS, {}),
        ("activity", Q_ACTIVITY, {}),
        ("blocked", Q_BLOCKED, {}),
        ("stats", Q_STATS, {}),
        ("largest_tables", Q_LARGEST, {}),
        ("vacuum", Q_VACUUM, {"min_rows": LARGE_TABLE_ROWS}),
        ("freeze", Q_FREEZE, {}),
        ("sequences", Q_SEQUENCES, {}),
        ("invalid_indexes", Q_INVALID_INDEXES, {}),
        ("unused_indexes", Q_UNUSED_INDEXES, {"min_bytes": UNUSED_INDEX_BYTES}),
        ("duplicate_indexes", Q_DUPLICATE_INDEXES, {}),
        ("replication_slots", Q_SLOTS, {}),
    ]
    if facts and facts.get("pgss_installed"):
        queries.insert(3, ("statements", Q_STATEMENTS, {}))
    return queries


def _fetch(cursor: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor.execute(sql, params or None)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def run_queries(alias: str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Exception]]:
    """Run every health query in one read-only transaction; results and per-query errors."""
    connection = connections[alias]
    results: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, Exception] = {}
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        # SET LOCAL: undone with the transaction (or the savepoint when already inside one).
        cursor.execute("SET LOCAL transaction_read_only = on")
        cursor.execute(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}")
        cursor.execute(f"SET LOCAL lock_timeout = {int(LOCK_TIMEOUT_MS)}")
        plan: list[tuple[str, str, dict[str, Any]]] = [("facts", Q_FACTS, {})]
        index = 0
        while index < len(plan):
            name, sql, params = plan[index]
            try:
                with transaction.atomic(using=alias):
                    results[name] = _fetch(cursor, sql, params)
            except DatabaseError as exc:
                errors[name] = exc
            if name == "facts":
                plan.extend(_queries(results["facts"][0] if results.get("facts") else None))
            index += 1
        transaction.set_rollback(True, using=alias)
    return results, errors


def _is_privilege_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "permission denied" in text or "must be superuser" in text or "privilege" in text


def collect(sample: Sample, alias: str, latency_ms: float | None) -> Sample:
    """Measure a connected ``alias`` (``db.health.collect`` connected and timed it)."""
    results, errors = run_queries(alias)
    facts = (results.get("facts") or [{}])[0]
    settings_dict = connections[alias].settings_dict
    sample.tables["database"] = {
        "alias": alias,
        "vendor": "postgresql",
        "name": facts.get("db", settings_dict.get("NAME")),
        "server_version": facts.get("version"),
        "role": facts.get("role"),
    }
    m = sample.measurements
    m.append(
        Measurement(
            "db.latency",
            "Round trip (SELECT 1)",
            latency_ms,
            "ms",
            "latency_ms",
            detail="Time for one SELECT 1 from this container to the database.",
            fix="High latency: put the app and the database in the same Railway region and "
            "use the private network (DATABASE_URL on *.railway.internal), not the public proxy.",
            rank=20,
        )
    )
    role = str(facts.get("role") or settings_dict.get("USER") or "?")
    for name, exc in errors.items():
        sample.notes.append(_unavailable(name, exc, role))
    if facts:
        _privileges(sample, facts, role)
        _security(sample, facts, settings_dict, role)
        measure_size(sample, facts)
        measure_wraparound(sample, facts, results.get("freeze"))
    if "connections" in results and facts:
        measure_connections(sample, facts, results["connections"])
    if "activity" in results:
        measure_activity(sample, results["activity"])
    if "blocked" in results:
        measure_blocked(sample, results["blocked"])
    measure_statements(sample, facts, results.get("statements"))
    if results.get("stats"):
        measure_stats(sample, results["stats"][0])
    if "largest_tables" in results:
        sample.tables["largest_tables"] = results["largest_tables"]
    if "vacuum" in results:
        measure_vacuum(sample, results["vacuum"])
    if "sequences" in results:
        measure_sequences(sample, results["sequences"])
    if "invalid_indexes" in results:
        measure_invalid_indexes(sample, results["invalid_indexes"])
    if "unused_indexes" in results:
        measure_unused_indexes(sample, results["unused_indexes"])
    if "duplicate_indexes" in results:
        measure_duplicate_indexes(sample, results["duplicate_indexes"])
    if "replication_slots" in results:
        measure_slots(sample, results["replication_slots"])
    return sample


def _unavailable(name: str, exc: Exception, role: str) -> Finding:
    from ... import redact

    reason = redact.mask_exception(exc)
    if "shared_preload_libraries" in str(exc):
        fix = (
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; then restart "
            "the Postgres service (Railway: Restart)."
        )
        title = f"Cannot measure {name.replace('_', ' ')}: the extension is not preloaded"
    elif _is_privilege_error(exc):
        fix = f"GRANT {GRANT} TO {role}; (run as a superuser; pg_monitor is read-only)"
        title = f"Cannot measure {name.replace('_', ' ')}: role {role} lacks a privilege"
    else:
        fix = (
            "Retry when the database is less busy; the health queries stop after "
            f"{STATEMENT_TIMEOUT_MS} ms (statement_timeout) and {LOCK_TIMEOUT_MS} ms "
            "(lock_timeout) on purpose."
        )
        title = f"Cannot measure {name.replace('_', ' ')}: the query failed"
    return Finding(
        id=f"health.pg.unavailable.{name}",
        severity=Severity.INFO,
        title=title,
        detail=reason,
        fix=fix,
        rank=90,
        data={"query": name},
    )


def _privileges(sample: Sample, facts: dict[str, Any], role: str) -> None:
    if facts.get("superuser") or facts.get("monitor"):
        return
    sample.notes.append(
        Finding(
            id="health.pg.privileges",
            severity=Severity.INFO,
            title=f"Role {role} is not a member of {GRANT}: other sessions are partly hidden",
            detail="Without pg_monitor, PostgreSQL hides the query text and state of other "
            "roles' sessions, so long queries, idle transactions and lock chains of other "
            "roles cannot be seen. Connection counts are still exact.",
            fix=f"GRANT {GRANT} TO {role};  (read-only monitoring role; run as a superuser)",
            rank=80,
            data={"grant": GRANT, "role": role},
        )
    )


def _is_local(host: str) -> bool:
    return host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("/")


def _security(
    sample: Sample, facts: dict[str, Any], settings_dict: dict[str, Any], role: str
) -> None:
    superuser = bool(facts.get("superuser"))
    sample.measurements.append(
        Measurement(
            "pg.superuser",
            f"Application role {role} is {'a superuser' if superuser else 'not a superuser'}",
            None,
            severity=Severity.INFO if superuser else Severity.OK,
            detail=(
                f"The app connects as {role}, a superuser: a SQL injection or a bad migration "
                "can drop any database, read any file the server can, and bypass every "
                "permission. (Info, not warning: Railway's Postgres template connects as the "
                "superuser postgres, and a permanent warning would drown real alerts.)"
                if superuser
                else f"The app connects as {role}, which is not a superuser."
            ),
            fix=(
                "Create a least-privilege role for the app: CREATE ROLE app LOGIN PASSWORD '…'; "
                "GRANT CONNECT ON DATABASE … TO app; GRANT USAGE, CREATE ON SCHEMA public TO "
                "app; GRANT pg_monitor TO app; then point DATABASE_URL at it."
            ),
            rank=85,
            data={"role": role},
        )
    )
    host = str(settings_dict.get("HOST") or "")
    ssl = facts.get("ssl")
    if _is_local(host):
        return
    private = host.endswith(".railway.internal")
    severity = Severity.OK if ssl else Severity.INFO if private else Severity.WARNING
    sample.measurements.append(
        Measurement(
            "pg.ssl",
            f"SSL {'in use' if ssl else 'NOT in use'} on the connection to {host}",
            None,
            severity=severity,
            detail=(
                "The connection is encrypted."
                if ssl
                else (
                    "The connection is not encrypted. On Railway's private network "
                    "(*.railway.internal) traffic already travels inside an encrypted tunnel."
                    if private
                    else "The connection to a non-local host is not encrypted: the password "
                    "and every row cross the network in clear text."
                )
            ),
            fix="Add ?sslmode=require to DATABASE_URL (or OPTIONS={'sslmode': 'require'}).",
            rank=15,
            data={"host": host},
        )
    )


def cancel_backend(alias: str, pid: int) -> bool:
    """``pg_cancel_backend`` for a session of this same database (never another database's)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE pid = %s AND datname = current_database() AND pid <> pg_backend_pid()",
            [pid],
        )
        row = cursor.fetchone()
    return bool(row and row[0])
