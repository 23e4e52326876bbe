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
from ..measurement import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, Measurement, Sample, masked_query

GRANT = "pg_monitor"
LARGE_TABLE_ROWS = 10_000  # dead tuples and analyze staleness matter from this size
UNUSED_INDEX_BYTES = 10 * 1024 * 1024
SAFE_XID_LIMIT = 2_000_000_000  # wraparound protection stops writes near 2^31

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

Q_CONNECTIONS = """
SELECT coalesce(state, 'hidden') AS state, count(*) AS n,
  count(*) FILTER (WHERE usename = current_user) AS mine,
  count(*) FILTER (WHERE datname = current_database()) AS here
FROM pg_stat_activity
WHERE backend_type = 'client backend' OR backend_type IS NULL
GROUP BY 1
"""

Q_ACTIVITY = """
(SELECT 'active' AS kind, pid, usename, application_name,
   extract(epoch FROM clock_timestamp() - query_start)::float AS seconds,
   left(query, 2000) AS query, wait_event_type
 FROM pg_stat_activity
 WHERE state = 'active' AND pid <> pg_backend_pid() AND datname = current_database()
   AND backend_type = 'client backend'
 ORDER BY query_start LIMIT 5)
UNION ALL
(SELECT 'idle_in_transaction', pid, usename, application_name,
   extract(epoch FROM clock_timestamp() - state_change)::float,
   left(query, 2000), wait_event_type
 FROM pg_stat_activity
 WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
   AND pid <> pg_backend_pid() AND datname = current_database()
 ORDER BY state_change LIMIT 1)
"""

Q_BLOCKED = """
WITH waiting AS MATERIALIZED (
  SELECT pid, usename, query, query_start, wait_event_type, wait_event,
    pg_blocking_pids(pid) AS blockers
  FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid()
    AND backend_type = 'client backend' AND wait_event_type = 'Lock'
  LIMIT 50)
SELECT w.pid, w.usename, w.blockers,
  extract(epoch FROM clock_timestamp() - w.query_start)::float AS seconds,
  left(w.query, 2000) AS query, w.wait_event,
  (SELECT coalesce(json_agg(json_build_object(
      'pid', a.pid, 'usename', a.usename, 'state', a.state,
      'seconds', extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start)),
      'query', left(a.query, 2000), 'blockers', pg_blocking_pids(a.pid))), '[]')
   FROM pg_stat_activity a WHERE a.pid = ANY(w.blockers)) AS blocking
FROM waiting w
WHERE cardinality(w.blockers) > 0
ORDER BY seconds DESC NULLS LAST
LIMIT 20
"""

Q_STATEMENTS = """
SELECT calls, mean_exec_time::float AS mean_ms, total_exec_time::float AS total_ms,
  left(query, 2000) AS query
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY mean_exec_time DESC
LIMIT 5
"""

# Straight from the statistics functions over pg_class: one pass, two calls per relation
# (the pg_statio_* views compute a dozen columns per table, and a subquery per table's indexes).
Q_STATS = """
SELECT d.xact_commit, d.xact_rollback, d.deadlocks, d.temp_files, d.temp_bytes,
  d.stats_reset::text AS stats_reset, s.heap_hit, s.heap_read, s.idx_hit, s.idx_read
FROM pg_stat_database d,
  (SELECT
     sum(pg_stat_get_blocks_hit(c.oid)) FILTER (WHERE c.relkind IN ('r', 'm')) AS heap_hit,
     sum(pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid))
       FILTER (WHERE c.relkind IN ('r', 'm')) AS heap_read,
     sum(pg_stat_get_blocks_hit(c.oid)) FILTER (WHERE c.relkind = 'i') AS idx_hit,
     sum(pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid))
       FILTER (WHERE c.relkind = 'i') AS idx_read
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'm', 'i')
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  ) s
WHERE d.datname = current_database()
"""

Q_LARGEST = """
WITH top AS MATERIALIZED (
  SELECT c.oid, n.nspname, c.relname, c.reltuples, c.reltoastrelid
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  WHERE c.relkind IN ('r', 'm')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  ORDER BY c.relpages::bigint + coalesce(t.relpages, 0) DESC, c.oid
  LIMIT 10)
SELECT nspname AS schema, relname AS table, greatest(reltuples, 0)::bigint AS rows_estimate,
  pg_relation_size(oid) AS table_bytes, pg_indexes_size(oid) AS index_bytes,
  CASE WHEN reltoastrelid <> 0 THEN pg_total_relation_size(reltoastrelid) ELSE 0 END
    AS toast_bytes,
  pg_total_relation_size(oid) AS total_bytes
FROM top
ORDER BY total_bytes DESC
"""

Q_VACUUM = """
WITH big AS MATERIALIZED (
  SELECT c.oid, n.nspname AS schemaname, c.relname,
    pg_stat_get_live_tuples(c.oid) AS n_live_tup, pg_stat_get_dead_tuples(c.oid) AS n_dead_tup
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
    AND pg_stat_get_live_tuples(c.oid) + pg_stat_get_dead_tuples(c.oid) >= %(min_rows)s),
t AS MATERIALIZED (
  SELECT b.*, pg_stat_get_mod_since_analyze(b.oid) AS n_mod_since_analyze,
    greatest(pg_stat_get_last_vacuum_time(b.oid), pg_stat_get_last_autovacuum_time(b.oid))
      AS last_vacuum,
    greatest(pg_stat_get_last_analyze_time(b.oid), pg_stat_get_last_autoanalyze_time(b.oid))
      AS last_analyze
  FROM big b)
SELECT kind, schemaname, relname, n_live_tup, n_dead_tup, n_mod_since_analyze,
  extract(epoch FROM clock_timestamp() - last_vacuum)::float / 86400 AS vacuum_days,
  extract(epoch FROM clock_timestamp() - last_analyze)::float / 86400 AS analyze_days
FROM (
  (SELECT 'dead' AS kind, * FROM t
   ORDER BY n_dead_tup::float / greatest(n_live_tup + n_dead_tup, 1) DESC LIMIT 5)
  UNION ALL
  (SELECT 'analyze', * FROM t
   WHERE n_mod_since_analyze >= greatest(n_live_tup / 10, 1000)
   ORDER BY coalesce(last_analyze, '-infinity') LIMIT 5)
) picked
"""

Q_FREEZE = """
SELECT n.nspname AS schema, c.relname AS table, age(c.relfrozenxid)::bigint AS xid_age
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
ORDER BY age(c.relfrozenxid) DESC
LIMIT 3
"""

# Candidates: the smallest ranges first (int2/int4 before bigint); owners looked up for those only.
Q_SEQUENCES = """
WITH cand AS MATERIALIZED (
  SELECT c.oid, n.nspname, c.relname, format_type(s.seqtypid, NULL) AS type,
    s.seqmin, s.seqmax, s.seqincrement
  FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT') ELSE false END
  ORDER BY s.seqmax::numeric - s.seqmin::numeric, c.oid
  LIMIT 50)
SELECT nspname AS schema, relname AS sequence, type, seqmin, seqmax, seqincrement,
  (SELECT t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
   WHERE d.classid = 'pg_class'::regclass AND d.objid = cand.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1) AS owner_table,
  (xpath('/row/last_value/text()', x))[1]::text::numeric AS last_value,
  (xpath('/row/is_called/text()', x))[1]::text = 'true' AS is_called
FROM cand,
  LATERAL query_to_xml(format('SELECT last_value, is_called FROM %I.%I', nspname, relname),
                       false, true, '') AS x
"""

Q_INVALID_INDEXES = """
SELECT n.nspname AS schema, c.relname AS index, t.relname AS table,
  pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid
ORDER BY c.oid
LIMIT 20
"""

Q_UNUSED_INDEXES = """
SELECT n.nspname AS schema, t.relname AS table, c.relname AS index,
  c.relpages::bigint * bs.size AS bytes_estimate, pg_stat_get_numscans(c.oid) AS idx_scan
FROM pg_class c
JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace,
  (SELECT current_setting('block_size')::int AS size) bs
WHERE c.relkind = 'i' AND c.relpages::bigint * bs.size >= %(min_bytes)s
  AND NOT i.indisunique AND NOT i.indisprimary
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND pg_stat_get_numscans(c.oid) = 0
ORDER BY c.relpages DESC
LIMIT 10
"""

# Pairs on the same table with the same columns, operator classes, collations, expressions and
# predicate. A self-join on indrelid compares the vectors only within one table (grouping by
# their text forms cost a cast of every index's node trees).
Q_DUPLICATE_INDEXES = """
SELECT n.nspname AS schema, t.relname AS table,
  ARRAY[ca.relname::text, cb.relname::text] AS indexes
FROM pg_index a
JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid > a.indexrelid
  AND b.indkey = a.indkey AND b.indclass = a.indclass AND b.indcollation = a.indcollation
JOIN pg_class ca ON ca.oid = a.indexrelid
JOIN pg_class cb ON cb.oid = b.indexrelid
JOIN pg_class t ON t.oid = a.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND coalesce(pg_get_expr(a.indexprs, a.indrelid), '')
    = coalesce(pg_get_expr(b.indexprs, b.indrelid), '')
  AND coalesce(pg_get_expr(a.indpred, a.indrelid), '')
    = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
ORDER BY t.relname, ca.relname
LIMIT 10
"""

Q_SLOTS = """
SELECT slot_name, slot_type, active, database,
  CASE WHEN pg_is_in_recovery() THEN NULL
       ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END AS retained_bytes
FROM pg_replication_slots
ORDER BY retained_bytes DESC NULLS LAST
LIMIT 20
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
        _size(sample, facts)
        _wraparound(sample, facts, results.get("freeze"))
    if "connections" in results and facts:
        _connections(sample, facts, results["connections"])
    if "activity" in results:
        _activity(sample, results["activity"])
    if "blocked" in results:
        _blocked(sample, results["blocked"])
    _statements(sample, facts, results.get("statements"))
    if results.get("stats"):
        _stats(sample, results["stats"][0])
    if "largest_tables" in results:
        sample.tables["largest_tables"] = results["largest_tables"]
    if "vacuum" in results:
        _vacuum(sample, results["vacuum"])
    if "sequences" in results:
        _sequences(sample, results["sequences"])
    if "invalid_indexes" in results:
        _invalid_indexes(sample, results["invalid_indexes"])
    if "unused_indexes" in results:
        _unused_indexes(sample, results["unused_indexes"])
    if "duplicate_indexes" in results:
        _duplicate_indexes(sample, results["duplicate_indexes"])
    if "replication_slots" in results:
        _slots(sample, results["replication_slots"])
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


def _size(sample: Sample, facts: dict[str, Any]) -> None:
    sample.measurements.append(
        Measurement(
            "pg.database_size",
            f"Database size ({facts.get('db')})",
            facts.get("db_bytes"),
            "bytes",
            detail="pg_database_size of the current database; the largest tables are listed "
            "below with their row estimates and table, index and TOAST sizes.",
            fix="Watch the volume of the Postgres service (Railway: service > Metrics > "
            "Disk); archive or partition the largest tables before the volume fills.",
            rank=60,
        )
    )


def _wraparound(sample: Sample, facts: dict[str, Any], freeze: list[dict[str, Any]] | None) -> None:
    age = facts.get("oldest_xid_age")
    if age is None:
        return
    pct = round(100.0 * int(age) / SAFE_XID_LIMIT, 2)
    freeze_max = int(facts.get("freeze_max_age") or 200_000_000)
    oldest = ", ".join(f"{r['schema']}.{r['table']} ({r['xid_age']:,})" for r in (freeze or []))
    sample.measurements.append(
        Measurement(
            "pg.wraparound",
            "Transaction ID age (wraparound)",
            pct,
            "%",
            "wraparound_pct",
            detail=(
                f"The oldest unfrozen transaction ID in database {facts.get('oldest_xid_db')} is "
                f"{int(age):,} transactions old; PostgreSQL stops accepting writes near "
                f"{SAFE_XID_LIMIT:,}. Autovacuum forces a freeze at autovacuum_freeze_max_age "
                f"= {freeze_max:,} ({round(100.0 * int(age) / freeze_max)} % reached)."
                + (f" Oldest tables: {oldest}." if oldest else "")
            ),
            fix="Run VACUUM (FREEZE, VERBOSE) on the oldest tables listed, end long-running "
            "transactions and drop stale replication slots that hold the xmin horizon back.",
            rank=5,
            data={"xid_age": int(age), "autovacuum_freeze_max_age": freeze_max},
        )
    )


def _connections(sample: Sample, facts: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    by_state = {str(r["state"]): int(r["n"]) for r in rows}
    total = sum(by_state.values())
    mine = sum(int(r["mine"]) for r in rows)
    here = sum(int(r["here"]) for r in rows)
    usable = int(facts["max_connections"]) - int(facts["reserved"])
    # The tightest of the server, database and role limits is the one that refuses first.
    budgets = [("server", total, usable, "max_connections - superuser_reserved_connections")]
    role_limit = int(facts.get("role_limit") or -1)
    if role_limit >= 0 and not facts.get("superuser"):
        budgets.append(("role", mine, role_limit, f"CONNECTION LIMIT of role {facts['role']}"))
    db_limit = int(facts.get("db_limit") or -1)
    if db_limit >= 0 and not facts.get("superuser"):
        budgets.append(("database", here, db_limit, f"CONNECTION LIMIT of database {facts['db']}"))
    scope, used, limit, label = max(
        budgets, key=lambda b: b[1] / b[2] if b[2] > 0 else float("inf")
    )
    pct = round(100.0 * used / limit, 1) if limit > 0 else 100.0
    states = ", ".join(f"{n} {s}" for s, n in sorted(by_state.items(), key=lambda i: -i[1]))
    sample.measurements.append(
        Measurement(
            "pg.connections",
            f"Connection usage ({scope})",
            pct,
            "%",
            "connections_pct",
            detail=(
                f"{used} of {limit} usable connections ({label}). Server-wide by state: "
                f"{states or 'none'}."
            ),
            fix="Lower gunicorn workers x threads x replicas, set CONN_MAX_AGE to reuse "
            "connections, close idle-in-transaction sessions, or put PgBouncer in front; "
            "raising max_connections costs memory per connection.",
            rank=10,
            data={
                "scope": scope,
                "used": used,
                "limit": limit,
                "by_state": by_state,
                "max_connections": facts["max_connections"],
                "superuser_reserved_connections": facts["reserved"],
            },
        )
    )


def _activity(sample: Sample, rows: list[dict[str, Any]]) -> None:
    active = [r for r in rows if r["kind"] == "active"]
    idle = [r for r in rows if r["kind"] == "idle_in_transaction"]
    longest = active[0] if active else None
    sample.measurements.append(
        Measurement(
            "pg.long_query",
            "Longest running query",
            round(float(longest["seconds"]), 2) if longest else 0.0,
            "s",
            "query_seconds",
            detail=(
                f"pid {longest['pid']} ({longest['usename']}, {longest['application_name'] or '-'})"
                f" has been running for {float(longest['seconds']):.1f} s: "
                f"{masked_query(longest['query'])}"
                if longest
                else "No other query is running in this database right now."
            ),
            fix=(
                f"Find why it is slow with EXPLAIN (ANALYZE, BUFFERS); to stop it now: "
                f"SELECT pg_cancel_backend({longest['pid']}); set a statement_timeout for the app "
                "(OPTIONS={'options': '-c statement_timeout=5000'})."
                if longest
                else "Nothing to do."
            ),
            rank=3,
            data={"pid": longest["pid"]} if longest else {},
        )
    )
    if active:
        sample.tables["running_queries"] = [
            {
                "pid": r["pid"],
                "user": r["usename"],
                "seconds": round(float(r["seconds"]), 1),
                "waiting": r["wait_event_type"] or "",
                "query": masked_query(r["query"]),
            }
            for r in active
        ]
    oldest = idle[0] if idle else None
    sample.measurements.append(
        Measurement(
            "pg.idle_in_transaction",
            "Oldest idle-in-transaction session",
            round(float(oldest["seconds"]), 1) if oldest else 0.0,
            "s",
            "idle_in_transaction_seconds",
            detail=(
                f"pid {oldest['pid']} ({oldest['usename']}) opened a transaction and has done "
                f"nothing for {float(oldest['seconds']):.0f} s; it holds its locks and blocks "
                f"vacuum. Last statement: {masked_query(oldest['query'])}"
                if oldest
                else "No session is idle in a transaction."
            ),
            fix=(
                f"End it: SELECT pg_terminate_backend({oldest['pid']}); then set "
                "idle_in_transaction_session_timeout (e.g. ALTER DATABASE … SET "
                "idle_in_transaction_session_timeout = '60s') and find the code path that "
                "forgets to commit."
                if oldest
                else "Nothing to do."
            ),
            rank=4,
            data={"pid": oldest["pid"]} if oldest else {},
        )
    )


def _blocked(sample: Sample, rows: list[dict[str, Any]]) -> None:
    chains: list[dict[str, Any]] = []
    lines: list[str] = []
    for row in rows:
        blockers = row["blocking"] if isinstance(row["blocking"], list) else []
        chain = [int(row["pid"]), *(int(p) for p in row["blockers"])]
        for b in blockers:
            chain.extend(int(p) for p in b.get("blockers") or [] if int(p) not in chain)
        chains.append(
            {
                "pid": row["pid"],
                "seconds": round(float(row["seconds"] or 0), 1),
                "blocked_by": [int(p) for p in row["blockers"]],
                "chain": chain,
                "query": masked_query(row["query"]),
                "blockers": [
                    {
                        "pid": b["pid"],
                        "state": b.get("state"),
                        "seconds": round(float(b.get("seconds") or 0), 1),
                        "query": masked_query(b.get("query")),
                    }
                    for b in blockers
                ],
            }
        )
        who = "; ".join(
            f"pid {b['pid']} ({b.get('state') or 'hidden'}, {float(b.get('seconds') or 0):.0f} s:"
            f" {masked_query(b.get('query'))})"
            for b in blockers
        ) or ", ".join(f"pid {p}" for p in row["blockers"])
        lines.append(
            f"pid {row['pid']} waits {float(row['seconds'] or 0):.1f} s "
            f"({masked_query(row['query'])}) for {who}; chain: " + " ← ".join(str(p) for p in chain)
        )
    worst = max((c["seconds"] for c in chains), default=0.0)
    roots = sorted({c["chain"][-1] for c in chains})
    sample.measurements.append(
        Measurement(
            "pg.blocked",
            f"Blocked queries ({len(chains)})" if chains else "Blocked queries",
            worst,
            "s",
            "query_seconds",
            min_severity=Severity.INFO if chains else Severity.OK,
            detail="\n".join(lines) if lines else "No query is waiting for a lock.",
            fix=(
                "The session at the end of each chain holds the lock: finish or cancel it "
                f"(SELECT pg_cancel_backend(pid), or pg_terminate_backend(pid) if idle in "
                f"transaction; root pid(s): {', '.join(map(str, roots))}). Keep transactions "
                "short and run migrations with a lock_timeout (safe_migrate does)."
                if chains
                else "Nothing to do."
            ),
            rank=2,
            data={"chains": chains},
        )
    )


def _statements(sample: Sample, facts: dict[str, Any], rows: list[dict[str, Any]] | None) -> None:
    if not facts:
        return
    if not facts.get("pgss_installed"):
        preloaded = "pg_stat_statements" in str(facts.get("preload") or "")
        steps = (
            "CREATE EXTENSION pg_stat_statements;"
            if preloaded
            else "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; restart "
            "the Postgres service (Railway: Restart), then CREATE EXTENSION pg_stat_statements;"
        )
        sample.notes.append(
            Finding(
                id="health.pg.stat_statements",
                severity=Severity.INFO,
                title="pg_stat_statements is not enabled: slow statements cannot be ranked",
                detail="pg_stat_statements records the time every statement shape takes; "
                "without it only the queries running right now can be seen."
                + ("" if facts.get("pgss_available") else " It is not installed on the server."),
                fix=steps,
                rank=70,
                data={"preloaded": preloaded},
            )
        )
        return
    if rows is None:
        return
    slowest = rows[0] if rows else None
    sample.measurements.append(
        Measurement(
            "pg.slowest_statement",
            "Slowest statement on average (pg_stat_statements)",
            round(float(slowest["mean_ms"]) / 1000, 3) if slowest else 0.0,
            "s",
            "query_seconds",
            detail=(
                f"{slowest['calls']:,} calls, mean {float(slowest['mean_ms']):.0f} ms: "
                f"{masked_query(slowest['query'])}"
                if slowest
                else "No statement recorded yet."
            ),
            fix="EXPLAIN (ANALYZE, BUFFERS) the statement; add the missing index or paginate. "
            "SELECT pg_stat_statements_reset() after a fix to measure again.",
            rank=30,
        )
    )
    sample.tables["slow_statements"] = [
        {
            "calls": r["calls"],
            "mean_ms": round(float(r["mean_ms"]), 1),
            "total_s": round(float(r["total_ms"]) / 1000, 1),
            "query": masked_query(r["query"]),
        }
        for r in rows
    ]


def _ratio(hit: Any, read: Any) -> tuple[float | None, int]:
    total = int(hit or 0) + int(read or 0)
    if total < 10_000:  # too little traffic since the stats reset to mean anything
        return None, total
    return round(100.0 * int(hit or 0) / total, 2), total


def _stats(sample: Sample, row: dict[str, Any]) -> None:
    since = f"since the statistics reset ({row['stats_reset'] or 'server start'})"
    for kind, hit, read in (
        ("tables", row["heap_hit"], row["heap_read"]),
        ("indexes", row["idx_hit"], row["idx_read"]),
    ):
        pct, total = _ratio(hit, read)
        sample.measurements.append(
            Measurement(
                f"pg.cache_hit.{kind}",
                f"Cache hit ratio, {kind}",
                pct,
                "%",
                "cache_hit_ratio_pct",
                detail=(
                    f"{total:,} block reads {since}."
                    if pct is not None
                    else f"Only {total:,} block reads {since}: too few to judge."
                ),
                fix="Below 99 % the working set does not fit in shared_buffers: give the "
                "Postgres service more memory or raise shared_buffers (~25 % of its RAM), "
                "and look for sequential scans on large tables.",
                rank=40,
                # A cold cache slows queries but breaks nothing: never critical, so it cannot
                # fail a deploy's health step right after a restart or a restore.
                max_severity=Severity.WARNING,
            )
        )
    commits, rollbacks = int(row["xact_commit"] or 0), int(row["xact_rollback"] or 0)
    total = commits + rollbacks
    rollback_pct = round(100.0 * rollbacks / total, 2) if total >= 1000 else None
    sample.measurements.append(
        Measurement(
            "pg.rollback_ratio",
            "Rolled-back transactions",
            rollback_pct,
            "%",
            "rollback_pct",
            detail=f"{rollbacks:,} rollbacks of {total:,} transactions {since}.",
            fix="Many rollbacks mean errors the app swallows (IntegrityError retries, "
            "aborted requests): check the app's error logs.",
            rank=45,
        )
    )
    sample.measurements.append(
        Measurement(
            "pg.deadlocks",
            "Deadlocks",
            int(row["deadlocks"] or 0),
            "",
            "deadlocks",
            detail=f"{int(row['deadlocks'] or 0):,} deadlocks {since}.",
            fix="Two transactions lock the same rows in opposite orders: lock rows in a fixed "
            "order (e.g. ORDER BY id with select_for_update) and keep transactions short; "
            "the server log shows the statements involved.",
            rank=35,
        )
    )
    sample.measurements.append(
        Measurement(
            "pg.temp_files",
            "Temporary files",
            int(row["temp_files"] or 0),
            "",
            "temp_files",
            detail=f"{int(row['temp_files'] or 0):,} temp files "
            f"({int(row['temp_bytes'] or 0) / 1_048_576:,.0f} MiB) {since}: sorts and hashes "
            "that did not fit in work_mem.",
            fix="Raise work_mem for the queries that spill (SET LOCAL work_mem = '64MB') or "
            "add an index that avoids the sort.",
            rank=55,
        )
    )


def _vacuum(sample: Sample, rows: list[dict[str, Any]]) -> None:
    dead = [r for r in rows if r["kind"] == "dead"]
    stale = [r for r in rows if r["kind"] == "analyze"]

    def pct(r: dict[str, Any]) -> float:
        total = int(r["n_live_tup"]) + int(r["n_dead_tup"])
        return round(100.0 * int(r["n_dead_tup"]) / total, 1) if total else 0.0

    def days(value: Any) -> str:
        return "never" if value is None else f"{float(value):.1f} days ago"

    worst = dead[0] if dead else None
    sample.measurements.append(
        Measurement(
            "pg.dead_tuples",
            "Dead tuples, worst table",
            pct(worst) if worst else 0.0,
            "%",
            "dead_tuple_pct",
            detail=(
                "; ".join(
                    f"{r['schemaname']}.{r['relname']}: {pct(r)} % dead "
                    f"({int(r['n_dead_tup']):,} of "
                    f"{int(r['n_live_tup']) + int(r['n_dead_tup']):,}),"
                    f" vacuumed {days(r['vacuum_days'])}"
                    for r in dead
                )
                if dead
                else f"No table with {LARGE_TABLE_ROWS:,}+ rows."
            ),
            fix=(
                f"VACUUM (ANALYZE, VERBOSE) {worst['schemaname']}.{worst['relname']}; if it "
                "comes back, lower autovacuum_vacuum_scale_factor for that table and look for "
                "long transactions that stop vacuum from cleaning."
                if worst
                else "Nothing to do."
            ),
            rank=30,
            labels={"table": f"{worst['schemaname']}.{worst['relname']}"} if worst else {},
        )
    )
    oldest = stale[0] if stale else None
    analyze_days = None if oldest is None else oldest["analyze_days"]
    stale_value = None if oldest else 0.0
    if analyze_days is not None:
        stale_value = round(float(analyze_days), 1)
    sample.measurements.append(
        Measurement(
            "pg.analyze_age",
            "Stale planner statistics, worst table",
            stale_value,
            "days",
            "analyze_age_days",
            severity=Severity.WARNING if oldest and analyze_days is None else None,
            detail=(
                "; ".join(
                    f"{r['schemaname']}.{r['relname']}: {int(r['n_mod_since_analyze']):,} rows "
                    f"changed since the last analyze ({days(r['analyze_days'])})"
                    for r in stale
                )
                if stale
                else "Every large table was analyzed since it last changed much."
            ),
            fix=(
                f"ANALYZE {oldest['schemaname']}.{oldest['relname']}; stale statistics make "
                "the planner pick bad plans after bulk loads."
                if oldest
                else "Nothing to do."
            ),
            rank=32,
        )
    )


def _sequences(sample: Sample, rows: list[dict[str, Any]]) -> None:
    usage: list[dict[str, Any]] = []
    for r in rows:
        last = r["last_value"]
        if last is None or not r["is_called"]:
            continue
        increment = int(r["seqincrement"])
        lo, hi = int(r["seqmin"]), int(r["seqmax"])
        if increment > 0:
            pct = 100.0 * float(last) / hi if lo >= 0 else 100.0 * (float(last) - lo) / (hi - lo)
        else:
            pct = 100.0 * float(last) / lo if hi <= 0 else 100.0 * (hi - float(last)) / (hi - lo)
        usage.append(
            {
                "sequence": f"{r['schema']}.{r['sequence']}",
                "type": r["type"],
                "table": r["owner_table"] or "",
                "last_value": int(last),
                "max": hi if increment > 0 else lo,
                "pct": round(pct, 2),
            }
        )
    usage.sort(key=lambda u: -u["pct"])
    worst = usage[0] if usage else None
    sample.measurements.append(
        Measurement(
            "pg.sequence",
            "Sequence closest to exhaustion",
            worst["pct"] if worst else 0.0,
            "%",
            "sequence_pct",
            detail=(
                f"{worst['sequence']} ({worst['type']}"
                + (f", feeds {worst['table']}" if worst["table"] else "")
                + f") is at {worst['last_value']:,} of {worst['max']:,}. When it is used up, "
                "every INSERT fails."
                if worst
                else "No sequence has been used yet (or none is readable by this role)."
            ),
            fix=(
                f"Widen it before it runs out: ALTER SEQUENCE {worst['sequence']} AS bigint "
                "MAXVALUE 9223372036854775807; and the column too (ALTER TABLE … ALTER COLUMN "
                "id TYPE bigint: rewrites the table, so plan it with safe_migrate; Django: "
                "BigAutoField)."
                if worst
                else "Nothing to do."
            ),
            rank=6,
            labels={"sequence": worst["sequence"]} if worst else {},
            data={"sequences": usage[:5]},
        )
    )


def _invalid_indexes(sample: Sample, rows: list[dict[str, Any]]) -> None:
    names = [f"{r['schema']}.{r['index']}" for r in rows]
    sample.measurements.append(
        Measurement(
            "pg.invalid_index",
            "Invalid indexes",
            len(rows),
            "",
            severity=Severity.WARNING if rows else Severity.OK,
            detail=(
                "Left by a failed CREATE INDEX CONCURRENTLY (or one running right now): they "
                "are maintained on every write but never used. "
                + "; ".join(f"{r['schema']}.{r['index']} on {r['table']}" for r in rows)
                if rows
                else "None."
            ),
            fix=(
                "; ".join(f"DROP INDEX CONCURRENTLY {n}" for n in names)
                + "; then create it again (fix the duplicate values first if it is UNIQUE)."
                if rows
                else "Nothing to do."
            ),
            rank=25,
            data={"indexes": names},
        )
    )


def _unused_indexes(sample: Sample, rows: list[dict[str, Any]]) -> None:
    sample.measurements.append(
        Measurement(
            "pg.unused_index",
            "Large unused indexes",
            len(rows),
            "",
            severity=Severity.INFO if rows else Severity.OK,
            detail=(
                "Never scanned since the statistics reset, yet maintained on every write: "
                + "; ".join(
                    f"{r['schema']}.{r['index']} on {r['table']} "
                    f"(~{int(r['bytes_estimate']) // 1_048_576} MiB)"
                    for r in rows
                )
                if rows
                else f"No non-unique index of {UNUSED_INDEX_BYTES // 1_048_576} MiB or more "
                "is unused."
            ),
            fix=(
                "Check replicas and rare jobs first, then DROP INDEX CONCURRENTLY the ones "
                "nothing uses (through a migration)."
                if rows
                else "Nothing to do."
            ),
            rank=65,
            data={"indexes": [f"{r['schema']}.{r['index']}" for r in rows]},
        )
    )


def _duplicate_indexes(sample: Sample, rows: list[dict[str, Any]]) -> None:
    sets = [[f"{r['schema']}.{i}" for i in r["indexes"]] for r in rows]
    sample.measurements.append(
        Measurement(
            "pg.duplicate_index",
            "Duplicate indexes",
            len(rows),
            "",
            severity=Severity.INFO if rows else Severity.OK,
            detail=(
                "Same table, columns, operator classes and predicate: "
                + "; ".join(" = ".join(s) for s in sets)
                if rows
                else "None."
            ),
            fix=(
                "Keep one of each set and DROP INDEX CONCURRENTLY the others (through a "
                "migration; keep the one that backs a constraint)."
                if rows
                else "Nothing to do."
            ),
            rank=66,
            data={"sets": sets},
        )
    )


def _slots(sample: Sample, rows: list[dict[str, Any]]) -> None:
    inactive = [r for r in rows if not r["active"]]
    retained = max((int(r["retained_bytes"] or 0) for r in rows), default=0)
    sample.measurements.append(
        Measurement(
            "pg.replication_slots",
            "WAL retained by replication slots",
            round(retained / 1_048_576, 1),
            "MiB",
            "slot_retained_wal_mb",
            severity=None,
            detail=(
                "; ".join(
                    f"{r['slot_name']} ({r['slot_type']}, "
                    f"{'active' if r['active'] else 'INACTIVE'},"
                    f" retains {int(r['retained_bytes'] or 0) / 1_048_576:,.0f} MiB)"
                    for r in rows
                )
                if rows
                else "No replication slot."
            ),
            fix=(
                "An inactive slot keeps every WAL file until the disk fills: drop the ones no "
                "consumer uses, SELECT pg_drop_replication_slot('name');"
                if rows
                else "Nothing to do."
            ),
            rank=8,
            data={"inactive": [r["slot_name"] for r in inactive]},
        )
    )
    if inactive:
        sample.measurements.append(
            Measurement(
                "pg.inactive_slot",
                "Inactive replication slots",
                len(inactive),
                "",
                severity=Severity.WARNING,
                detail="No consumer reads these slots, so the server keeps WAL for them: "
                + ", ".join(r["slot_name"] for r in inactive),
                fix="SELECT pg_drop_replication_slot('name'); for each slot nothing uses.",
                rank=8,
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
