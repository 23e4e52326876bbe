"""Queries: long-running and idle-in-transaction sessions, blocked chains, the slowest
statements (pg_stat_statements) and the database's statistics (cache hits, rollbacks,
deadlocks, temporary files).
"""

from __future__ import annotations

from typing import Any

from ....report import Finding, Severity
from ...measurement import Measurement, Sample, masked_query

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


def measure_activity(sample: Sample, rows: list[dict[str, Any]]) -> None:
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


def measure_blocked(sample: Sample, rows: list[dict[str, Any]]) -> None:
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


def measure_statements(
    sample: Sample, facts: dict[str, Any], rows: list[dict[str, Any]] | None
) -> None:
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


def measure_stats(sample: Sample, row: dict[str, Any]) -> None:
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
