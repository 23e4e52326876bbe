"""Storage: the database's size and its largest tables."""

from __future__ import annotations

from typing import Any

from ...measurement import Measurement, Sample

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


def measure_size(sample: Sample, facts: dict[str, Any]) -> None:
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
