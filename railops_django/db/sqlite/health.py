"""SQLite health: integrity, file and WAL size, page and freelist statistics, journal mode.

A fixed set of PRAGMAs and two catalog queries, run with ``PRAGMA query_only`` on so nothing
can write. Table sizes come from the ``dbstat`` virtual table when SQLite was built with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections

from ...report import Finding, Severity
from ..measurement import Measurement, Sample

QUICK_CHECK_ROWS = 20

Q_LARGEST = """
SELECT d.name AS "table", SUM(d.pgsize) AS bytes,
  (SELECT CAST(substr(s.stat, 1, instr(s.stat || ' ', ' ') - 1) AS INTEGER)
   FROM sqlite_stat1 s WHERE s.tbl = d.name LIMIT 1) AS rows_estimate
FROM dbstat d JOIN sqlite_master m ON m.name = d.name AND m.type = 'table'
GROUP BY d.name ORDER BY bytes DESC LIMIT 10
"""
Q_LARGEST_NO_STAT1 = """
SELECT d.name AS "table", SUM(d.pgsize) AS bytes, NULL AS rows_estimate
FROM dbstat d JOIN sqlite_master m ON m.name = d.name AND m.type = 'table'
GROUP BY d.name ORDER BY bytes DESC LIMIT 10
"""


def _pragma(cursor: Any, name: str) -> Any:
    cursor.execute(f"PRAGMA {name}")
    row = cursor.fetchone()
    return row[0] if row else None


def collect(sample: Sample, alias: str, latency_ms: float | None) -> Sample:
    """Measure a connected ``alias`` (``db.health.collect`` connected and timed it)."""
    connection = connections[alias]
    name = str(connection.settings_dict.get("NAME") or "")
    path = Path(name) if name and name != ":memory:" and "mode=memory" not in name else None
    m = sample.measurements
    m.append(
        Measurement(
            "db.latency",
            "Round trip (SELECT 1)",
            latency_ms,
            "ms",
            "latency_ms",
            detail="Time for one SELECT 1 on the SQLite file.",
            fix="A slow round trip on SQLite means a slow or overloaded disk: move the file to "
            "a local volume (Railway: a volume mounted at RAILWAY_VOLUME_MOUNT_PATH).",
            rank=20,
        )
    )
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA query_only = ON")
        try:
            _measure(sample, cursor, path)
        finally:
            cursor.execute("PRAGMA query_only = OFF")
    sample.tables["database"] = {"alias": alias, "vendor": "sqlite", "name": name}
    if path is not None:
        sample.paths.append(str(path))
    return sample


def _measure(sample: Sample, cursor: Any, path: Path | None) -> None:
    m = sample.measurements
    try:
        cursor.execute(f"PRAGMA quick_check({QUICK_CHECK_ROWS})")
        problems = [str(r[0]) for r in cursor.fetchall() if str(r[0]) != "ok"]
    except DatabaseError as exc:  # "database disk image is malformed" before any row
        problems = [str(exc)]
    m.append(
        Measurement(
            "sqlite.quick_check",
            "Integrity (PRAGMA quick_check)",
            len(problems),
            "problems",
            severity=Severity.CRITICAL if problems else Severity.OK,
            detail="; ".join(problems) if problems else "quick_check returned ok.",
            fix=(
                "The file is damaged: stop writes, restore the latest verified backup "
                "(backup restore --latest), or salvage with sqlite3 db.sqlite3 '.recover'."
                if problems
                else "Nothing to do."
            ),
            rank=1,
        )
    )
    page_size = int(_pragma(cursor, "page_size") or 0)
    page_count = int(_pragma(cursor, "page_count") or 0)
    freelist = int(_pragma(cursor, "freelist_count") or 0)
    journal = str(_pragma(cursor, "journal_mode") or "").lower()
    file_bytes = (
        path.stat().st_size if path is not None and path.exists() else page_size * page_count
    )
    wal = Path(f"{path}-wal") if path is not None else None
    wal_bytes = wal.stat().st_size if wal is not None and wal.exists() else 0
    m.append(
        Measurement(
            "sqlite.file_size",
            "Database file size",
            file_bytes,
            "bytes",
            detail=f"{page_count:,} pages of {page_size:,} bytes.",
            fix="Keep the file on a volume with room to grow; VACUUM needs as much free space "
            "again as the file.",
            rank=60,
            data={"page_size": page_size, "page_count": page_count},
        )
    )
    m.append(
        Measurement(
            "sqlite.wal_size",
            "WAL file size",
            round(wal_bytes / 1_048_576, 2),
            "MiB",
            "sqlite_wal_mb",
            detail=(
                f"{wal} is {wal_bytes:,} bytes."
                if wal_bytes
                else "No WAL file (not in WAL mode, or checkpointed)."
            ),
            fix="A WAL that keeps growing means a reader never lets the checkpoint finish: "
            "close long-lived connections, or run PRAGMA wal_checkpoint(TRUNCATE).",
            rank=40,
        )
    )
    freelist_pct = round(100.0 * freelist / page_count, 1) if page_count else 0.0
    m.append(
        Measurement(
            "sqlite.freelist",
            "Free pages (freelist)",
            freelist_pct,
            "%",
            "sqlite_freelist_pct",
            detail=f"{freelist:,} of {page_count:,} pages are free.",
            fix="Run VACUUM in a quiet moment to give the space back (it rewrites the file).",
            rank=55,
            data={"freelist_count": freelist},
        )
    )
    m.append(
        Measurement(
            "sqlite.journal_mode",
            f"Journal mode {journal or '?'}",
            None,
            severity=Severity.OK if journal == "wal" else Severity.INFO,
            detail=(
                "WAL: readers do not block the writer."
                if journal == "wal"
                else f"In {journal} mode a writer blocks every reader: web requests wait "
                "('database is locked') while anything writes."
            ),
            fix="PRAGMA journal_mode=WAL; (Django 5.1+: OPTIONS={'init_command': "
            "'PRAGMA journal_mode=WAL;'}).",
            rank=45,
            data={"journal_mode": journal},
        )
    )
    largest: list[dict[str, Any]] | None = None
    error: Exception | None = None
    cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
    has_stat1 = bool(cursor.fetchone()[0])
    try:
        cursor.execute(Q_LARGEST if has_stat1 else Q_LARGEST_NO_STAT1)
        largest = [
            {"table": r[0], "bytes": int(r[1] or 0), "rows_estimate": r[2]}
            for r in cursor.fetchall()
        ]
    except DatabaseError as exc:
        error = exc
    if largest is not None:
        sample.tables["largest_tables"] = largest
    else:
        sample.notes.append(
            Finding(
                id="health.sqlite.unavailable.largest_tables",
                severity=Severity.INFO,
                title="Cannot list the largest tables: SQLite was built without dbstat",
                detail=str(error),
                fix="Use a Python whose SQLite has SQLITE_ENABLE_DBSTAT_VTAB (the official "
                "python images do), or inspect with sqlite3_analyzer.",
                rank=90,
            )
        )
    if os.environ.get("RAILWAY_VOLUME_MOUNT_PATH") and path is not None:
        volume = Path(os.environ["RAILWAY_VOLUME_MOUNT_PATH"])
        on_volume = volume in path.resolve().parents
        if not on_volume:
            sample.notes.append(
                Finding(
                    id="health.sqlite.not_on_volume",
                    severity=Severity.CRITICAL,
                    title=f"The SQLite file {path} is not on the Railway volume",
                    detail=f"The volume is mounted at {volume}; everything else is lost at "
                    "the next deploy.",
                    fix=f"Set DATABASE_URL=sqlite:///{volume}/db.sqlite3 and copy the file there.",
                    rank=0,
                )
            )
