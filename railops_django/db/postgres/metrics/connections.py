"""Connections: how many sessions the server holds against its limit, by state."""

from __future__ import annotations

from typing import Any

from ...measurement import Measurement, Sample

Q_CONNECTIONS = """
SELECT coalesce(state, 'hidden') AS state, count(*) AS n,
  count(*) FILTER (WHERE usename = current_user) AS mine,
  count(*) FILTER (WHERE datname = current_database()) AS here
FROM pg_stat_activity
WHERE backend_type = 'client backend' OR backend_type IS NULL
GROUP BY 1
"""


def measure_connections(sample: Sample, facts: dict[str, Any], rows: list[dict[str, Any]]) -> None:
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
