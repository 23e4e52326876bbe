"""Maintenance: dead tuples and stale statistics (vacuum, analyze), transaction ID
wraparound, and sequences running out of range.
"""

from __future__ import annotations

from typing import Any

from ....report import Severity
from ...measurement import Measurement, Sample

LARGE_TABLE_ROWS = 10_000  # dead tuples and analyze staleness matter from this size


SAFE_XID_LIMIT = 2_000_000_000  # wraparound protection stops writes near 2^31


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


def measure_wraparound(
    sample: Sample, facts: dict[str, Any], freeze: list[dict[str, Any]] | None
) -> None:
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


def measure_vacuum(sample: Sample, rows: list[dict[str, Any]]) -> None:
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


def measure_sequences(sample: Sample, rows: list[dict[str, Any]]) -> None:
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
