"""Indexes: invalid, unused and duplicate indexes."""

from __future__ import annotations

from typing import Any

from ....report import Severity
from ...measurement import Measurement, Sample

UNUSED_INDEX_BYTES = 10 * 1024 * 1024


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


def measure_invalid_indexes(sample: Sample, rows: list[dict[str, Any]]) -> None:
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


def measure_unused_indexes(sample: Sample, rows: list[dict[str, Any]]) -> None:
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


def measure_duplicate_indexes(sample: Sample, rows: list[dict[str, Any]]) -> None:
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
