"""Replication: replication slots, and inactive ones holding WAL back."""

from __future__ import annotations

from typing import Any

from ....report import Severity
from ...measurement import Measurement, Sample

Q_SLOTS = """
SELECT slot_name, slot_type, active, database,
  CASE WHEN pg_is_in_recovery() THEN NULL
       ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END AS retained_bytes
FROM pg_replication_slots
ORDER BY retained_bytes DESC NULLS LAST
LIMIT 20
"""


def measure_slots(sample: Sample, rows: list[dict[str, Any]]) -> None:
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
