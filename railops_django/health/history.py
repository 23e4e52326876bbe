"""``db_health --record``: keep a sample of the main metrics, for the dashboard's history charts.

A sample is a flat ``{series key: number}`` taken from a db_health Report's metric rows
(``railops_pg_connections``, ``railops_pg_database_size``, ...; a labelled row gets its labels
in the key), plus the largest tables' sizes. Retention is bounded: samples older than
``HEALTH_HISTORY_DAYS`` are deleted each time one is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from .. import conf
from ..report import Finding, Report, Severity

LARGEST_TABLES = 5

# What the dashboard draws, in this order: (title, unit, series keys to try, first found wins).
CHARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Connections in use", "%", ("railops_pg_connections",)),
    ("Database size", "bytes", ("railops_pg_database_size", "railops_sqlite_file_size")),
    ("Longest running query", "s", ("railops_pg_long_query",)),
    ("Slowest statement (mean)", "ms", ("railops_pg_slowest_statement",)),
    ("Cache hit ratio, tables", "%", ("railops_pg_cache_hit_tables",)),
    ("Round trip", "ms", ("railops_db_latency",)),
)


def series_key(name: str, labels: dict[str, Any]) -> str:
    if not labels:
        return name
    inner = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
    return f"{name}{{{inner}}}"


def sample_of(report: Report) -> dict[str, Any]:
    """The numbers of one db_health Report worth keeping."""
    metrics: dict[str, float] = {}
    for row in report.extras.get("metrics") or []:
        value = row.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        metrics[series_key(str(row["name"]), dict(row.get("labels") or {}))] = float(value)
    tables = [
        {
            "table": f"{t.get('schema', '')}.{t['table']}".lstrip("."),
            "total_bytes": int(t.get("total_bytes") or 0),
        }
        for t in (report.extras.get("largest_tables") or [])[:LARGEST_TABLES]
        if isinstance(t, dict) and "table" in t
    ]
    return {"metrics": metrics, "largest_tables": tables}


def record(report: Report, alias: str, now: datetime | None = None) -> Finding:
    """Store one sample of ``report`` and prune the old ones; one finding says what it did."""
    from ..models import HealthSample

    now = now or timezone.now()
    days = conf.get("HEALTH_HISTORY_DAYS")
    sample = sample_of(report)
    database = report.extras.get("database") or {}
    row = HealthSample.objects.using(alias).create(
        database=alias,
        vendor=str(database.get("vendor", "")),
        status=report.status.label,
        metrics=sample["metrics"],
        largest_tables=sample["largest_tables"],
    )
    if row.recorded_at != now:  # auto_now_add; an explicit time is for backfills and tests
        HealthSample.objects.using(alias).filter(pk=row.pk).update(recorded_at=now)
    pruned, _ = (
        HealthSample.objects.using(alias)
        .filter(database=alias, recorded_at__lt=now - timedelta(days=days))
        .delete()
    )
    return Finding(
        "health.history.recorded",
        Severity.OK,
        f"Recorded {len(sample['metrics'])} metrics in the health history",
        detail=f"Samples older than {days} days are removed ({pruned} removed now).",
        rank=95,
        data={"metrics": len(sample["metrics"]), "pruned": pruned},
    )


@dataclass(frozen=True)
class Series:
    title: str
    unit: str
    key: str
    points: list[tuple[datetime, float]]


def charts(alias: str, since: datetime) -> list[Series]:
    """The dashboard's series since ``since``, oldest point first; empty series are left out."""
    from ..models import HealthSample

    rows = list(
        HealthSample.objects.using(alias)
        .filter(database=alias, recorded_at__gte=since)
        .order_by("recorded_at")
        .values_list("recorded_at", "metrics", "largest_tables")
    )
    out: list[Series] = []
    for title, unit, keys in CHARTS:
        for key in keys:
            points = [(at, float(m[key])) for at, m, _ in rows if isinstance(m, dict) and key in m]
            if points:
                out.append(Series(title, unit, key, points))
                break
    newest_tables = rows[-1][2] if rows else []
    for table in (t["table"] for t in newest_tables if isinstance(t, dict) and "table" in t):
        points = [
            (at, float(t["total_bytes"]))
            for at, _, tables in rows
            for t in tables
            if isinstance(t, dict) and t.get("table") == table
        ]
        if any(value for _, value in points):  # a vendor that cannot size tables gives 0
            out.append(Series(f"Table {table}", "bytes", f"table:{table}", points))
    return out
