"""emergency_rollback assess: the damage report, and which way back applies."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ..backup.catalog import scan, select, unreachable_findings
from ..backup.restore import migration_difference
from ..db import connection as dbconn
from ..db.schema import drift
from ..deploy.ledger import recent
from ..diagnose.edge import replay
from ..diagnose.settings import HEALTHCHECK_HOST, healthcheck_path
from ..migrate import current_state
from ..models import Release
from ..report import CannotRun, Finding, Report, Severity
from . import state
from .target import target_release


def _backups(alias: str, report: Report) -> list[dict[str, Any]]:
    now = timezone.now()
    found = scan()
    report.extend(unreachable_findings(found))
    return [
        {
            "name": b.name,
            "tier": b.tier,
            "age_hours": round((now - b.created_at).total_seconds() / 3600, 1),
            "verified": b.verified,
            "safety_for": b.safety_for,
            "matches_code": not any(migration_difference(b.manifest).values()),
        }
        for b in select(found.backups.values(), alias)[:5]
    ]


def _to_restore(backups: list[dict[str, Any]]) -> str | None:
    """The backup to advise restoring: the newest at the code's migration state, then the
    newest at all; never a safety copy of a state a restore or a recovery replaced (that is
    the broken state: restoring it goes round in a circle)."""
    candidates = [b for b in backups if not b["safety_for"]]
    matching = [b for b in candidates if b["matches_code"]]
    chosen = matching or candidates
    return str(chosen[0]["name"]) if chosen else None


def _edge(alias: str) -> list[Finding]:
    findings = [replay("/", alias=alias)]
    path = healthcheck_path()
    if path:
        findings.append(replay(path, HEALTHCHECK_HOST, alias=alias, healthcheck=True))
    return findings


def assess(alias: str) -> Report:
    report = Report("emergency_rollback")
    probe = dbconn.probe(alias)
    if not probe.ok and probe.error is not None:
        report.findings.append(dbconn.failure_finding(alias, probe.error, "rollback", rank=0))
        report.add(
            "rollback.recommendation",
            Severity.CRITICAL,
            "Recommendation: fix the database connection first; no rollback can run without it",
            fix="python manage.py railway_diagnose shows the cause; roll back nothing until the "
            "database answers.",
            rank=1,
            path="configuration",
        )
        return report
    report.add("rollback.database", Severity.OK, f"Database reachable ({probe.latency_ms} ms)")

    gap = state.gap(alias)
    releases = recent(alias, 5)
    report.extras["releases"] = releases
    report.extras["backups"] = _backups(alias, report)
    backups = report.extras["backups"]
    previous = _previous_good(alias)

    if gap.unknown_applied:
        report.add(
            "rollback.code_behind_schema",
            Severity.CRITICAL,
            f"{len(gap.unknown_applied)} applied migration(s) are unknown to this code",
            detail="The code was rolled back but the schema was not: "
            + ", ".join(gap.unknown_applied),
            fix="Redeploy the newer code and run emergency_rollback recover from it (it knows how "
            "to reverse its migrations), then roll the code back; or restore "
            + (_to_restore(backups) or "a backup taken before that release")
            + " with emergency_rollback recover --backup NAME.",
            rank=2,
            migrations=gap.unknown_applied,
        )
    if gap.pending:
        report.add(
            "rollback.pending",
            Severity.WARNING,
            f"{len(gap.pending)} migration(s) of this code are not applied",
            detail=", ".join(gap.pending[:20]),
            fix="python manage.py safe_migrate",
            rank=3,
            migrations=gap.pending,
        )
    report.extend(drift(alias))
    report.extend(_edge(alias))

    report.findings.append(_recommend(report, gap, previous, backups))
    return report


def _previous_good(alias: str) -> Release | None:
    try:
        return target_release(alias, None)
    except CannotRun:  # no ledger table or no earlier release: assess still answers
        return None


def _recommend(
    report: Report, gap: state.MigrationGap, previous: Release | None, backups: list[dict[str, Any]]
) -> Finding:
    problems = [f for f in report.findings if f.severity >= Severity.WARNING]
    if gap.unknown_applied:
        path, text = "restore", "redeploy the newer code to reverse its migrations, or restore"
        fix = "python manage.py emergency_rollback recover --backup " + (
            _to_restore(backups) or "NAME"
        )
    elif gap.pending:
        path, text = "migrate", "apply the pending migrations"
        fix = "python manage.py safe_migrate"
    elif any(f.id.startswith("schema.") for f in problems):
        path, text = "restore", "the schema drifted from the migrations: restore a backup"
        fix = "python manage.py emergency_rollback recover --backup " + (
            _to_restore(backups) or "NAME"
        )
    elif (
        problems
        and previous is not None
        and previous.migrations_after != current_state(previous._state.db or "default")
    ):
        path = "rollback"
        text = f"roll the migrations back to release {previous.pk}'s state"
        fix = f"python manage.py emergency_rollback recover --to-release {previous.pk}"
    elif problems:
        path, text = "configuration", "fix the configuration as railway_diagnose says"
        fix = "python manage.py railway_diagnose"
    else:
        return Finding(
            "rollback.recommendation",
            Severity.OK,
            "Recommendation: nothing to roll back; the database matches the code",
            data={"path": "none"},
        )
    worst = max(f.severity for f in problems) if problems else Severity.WARNING
    return Finding(
        "rollback.recommendation",
        worst,
        f"Recommendation: {text}",
        fix=fix,
        rank=1,
        data={"path": path},
    )
