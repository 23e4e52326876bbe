"""The deploy gate behind ``railops/health/``: can this process serve requests right now?

Four checks, each a finding of one Report:

- ``health.gate.database``: the database answers one ``SELECT 1`` (connect timeout from
  ``CONNECT_TIMEOUT``). This is the only round trip a request costs.
- ``health.gate.migrations``: no migration of the installed code is unapplied.
- ``schema.drift.*``: the models' tables and columns exist (the same check as
  ``railway_diagnose``).
- ``diagnose.static.*``: the static manifest exists when manifest storage is used.

The last three read the migration graph, the live schema and the manifest: they are slow, so
they run once per process and are kept for ``HEALTH_CACHE_SECONDS``. A result that could not be
computed (the database went away mid-check) is never kept.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from .. import conf
from ..db import connection as dbconn
from ..db import schema
from ..diagnose import static
from ..diagnose.runner import Context
from ..report import Finding, Report, Severity

COMMAND = "health"


@dataclass(frozen=True)
class _Cached:
    expires: float
    findings: tuple[Finding, ...]


_cache: dict[str, _Cached] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget the slow checks' results (tests, and after a migration in this process)."""
    with _lock:
        _cache.clear()


def forget_after_migrate(**kwargs: Any) -> None:
    """``post_migrate`` receiver: a migrate run in this process changes what the gate knows."""
    clear_cache()


def _pending_migrations(alias: str) -> list[Finding]:
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        return [
            Finding(
                "health.gate.migrations",
                Severity.OK,
                "Every migration of the installed code is applied",
            )
        ]
    names = [f"{m.app_label}.{m.name}" for m, _ in plan]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return [
        Finding(
            "health.gate.migrations",
            Severity.CRITICAL,
            f"{len(names)} migration(s) of the installed code are not applied",
            detail=f"Pending: {shown}. Code that needs them fails with missing tables or columns.",
            fix="Run 'python manage.py safe_migrate --noinput' (on Railway, make "
            "'python manage.py railway_deploy' the pre-deploy command).",
            rank=5,
            data={"pending": names},
        )
    ]


def _slow_checks(alias: str) -> tuple[Finding, ...]:
    findings = _pending_migrations(alias)
    drift = schema.drift(alias)
    findings += drift or [
        Finding("schema.drift", Severity.OK, "The models' tables and columns exist")
    ]
    manifest = static.manifest(Context(alias=alias))
    findings += manifest or [
        Finding("diagnose.static.manifest", Severity.OK, "Static files are served as configured")
    ]
    return tuple(findings)


def _cached_slow_checks(alias: str, now: float) -> tuple[Finding, ...]:
    with _lock:
        hit = _cache.get(alias)
        if hit is not None and hit.expires > now:
            return hit.findings
        findings = _slow_checks(alias)  # raises DatabaseError when it cannot finish: not kept
        _cache[alias] = _Cached(now + conf.get("HEALTH_CACHE_SECONDS"), findings)
        return findings


def run(alias: str = "default") -> Report:
    """One Report: critical when this process cannot serve (the view answers 503)."""
    report = Report(COMMAND)
    started = time.perf_counter()
    probe = _round_trip(alias)
    if not probe.ok:
        assert probe.error is not None
        report.findings.append(dbconn.failure_finding(alias, probe.error, "health.gate"))
        report.extras["timings_ms"] = {"database": _ms(started)}
        return report.finish()
    report.add(
        "health.gate.database",
        Severity.OK,
        f"The database answers ({probe.latency_ms} ms)",
        latency_ms=probe.latency_ms,
    )
    database_ms = _ms(started)
    slow_started = time.perf_counter()
    try:
        report.extend(list(_cached_slow_checks(alias, time.monotonic())))
    except DatabaseError as exc:
        report.findings.append(dbconn.failure_finding(alias, exc, "health.gate"))
    report.extras["timings_ms"] = {"database": database_ms, "checks": _ms(slow_started)}
    return report.finish()


def _round_trip(alias: str) -> dbconn.Probe:
    """``SELECT 1``, reusing the process's open connection (CONN_MAX_AGE) as Django does; the
    connect timeout is applied whenever a connection has to be opened."""
    connection = connections[alias]
    if connection.connection is None:
        return dbconn.probe(alias)
    if getattr(connection, "health_check_enabled", False):
        # CONN_HEALTH_CHECKS would run its own SELECT 1 before ours: this one is the check (a
        # failure closes the connection and opens a new one below), so the request costs one
        connection.health_check_done = True  # type: ignore[attr-defined]
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        connection.close()  # a connection the server dropped: open a new one, once
        return dbconn.probe(alias)
    return dbconn.Probe(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 2))


def failing_ids(report: Report) -> list[str]:
    """The ids of the checks that make the gate fail, most urgent first (no duplicates)."""
    ids: list[str] = []
    for finding in report.sorted_findings():
        if finding.severity is Severity.CRITICAL and finding.id not in ids:
            ids.append(finding.id)
    return ids


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
