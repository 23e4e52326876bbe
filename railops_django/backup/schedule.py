"""When to back up: ``create --if-due``, a small cron matcher, and the ``daemon`` loop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from django.db import DatabaseError

from .. import conf, render
from ..cron import Cron
from ..db.connection import failure_finding
from ..redact import logger
from ..report import ACTION, Report, Severity
from . import archive, claims, retention
from .catalog import list_backups

RANK = {"daily": 1, "weekly": 2, "monthly": 3}


def _period_start(tier: str, now: datetime) -> datetime:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if tier == "weekly":
        return day - timedelta(days=day.weekday())
    if tier == "monthly":
        return day.replace(day=1)
    return day


def due(alias: str, now: datetime | None = None) -> tuple[bool, str, str]:
    """(due?, tier, why): due when no backup of today's tier (or a longer one) exists in the
    tier's current period (UTC day, ISO week, calendar month)."""
    now = now or datetime.now(UTC)
    tier = archive.scheduled_tier(now)
    start = _period_start(tier, now)
    for backup in list_backups(alias):
        if RANK.get(backup.tier, 0) >= RANK[tier] and backup.created_at >= start:
            return False, tier, f"{backup.name} already covers this {tier} period"
    return True, tier, f"no {tier} backup since {start.isoformat()}"


def _raw_size_estimate(alias: str) -> int | None:
    """The dump's likely size, for the progress line: the newest backup of this database's."""
    for backup in list_backups(alias)[:1]:
        raw = backup.manifest["dump"].get("raw_bytes")
        return int(raw) if isinstance(raw, int) and raw > 0 else None
    return None


def create_report(
    alias: str,
    tier: str = "manual",
    *,
    schema_only: bool = False,
    allow_partial: bool = False,
    if_due: bool = False,
    progress: render.Progress | None = None,
    dry_run: bool = False,
) -> Report:
    report = Report("backup create", kind=ACTION)
    if if_due and not dry_run:
        # decided under the backup lock, as the daemon decides: no two runs see "due" at once
        try:
            with claims.backup_lock(alias) as locked:
                if not locked:
                    raise claims.lock_refusal(alias, claims.WAIT_S)
                return _create_report(
                    report, alias, tier, schema_only, allow_partial, if_due, progress, dry_run
                )
        except DatabaseError as exc:
            report.findings.append(failure_finding(alias, exc, "backup"))
            return report
    return _create_report(
        report, alias, tier, schema_only, allow_partial, if_due, progress, dry_run
    )


def _create_report(
    report: Report,
    alias: str,
    tier: str,
    schema_only: bool,
    allow_partial: bool,
    if_due: bool,
    progress: render.Progress | None,
    dry_run: bool,
) -> Report:
    if if_due:
        is_due, tier, why = due(alias)
        if not is_due:
            report.add("backup.not_due", Severity.OK, f"no backup needed: {why}", rank=90)
            return report
    if dry_run:
        return archive.dry_run(alias, tier, report)
    estimate = _raw_size_estimate(alias)
    outcome = "failed"
    try:
        result = archive.create(
            alias,
            tier,
            schema_only=schema_only,
            allow_partial=allow_partial,
            progress=(lambda n: progress.bytes(n, "dumped", estimate)) if progress else None,
        )
    except DatabaseError as exc:
        report.findings.append(failure_finding(alias, exc, "backup"))
        return report
    except archive.BackupFailed as exc:
        report.findings.append(archive.failed_finding(exc, "python manage.py backup create"))
        return report
    except BaseException as exc:  # Ctrl-C above all: the line must not say "(done)"
        outcome = render.ended_by(exc)
        raise
    else:
        outcome = "done"
    finally:
        if progress is not None:
            progress.done(outcome)
    report.extend(result.findings)
    dump = result.manifest["dump"]
    report.extras["backup"] = {
        "name": result.name,
        "tier": result.manifest["tier"],
        "bytes": dump["bytes"],
        "raw_bytes": dump["raw_bytes"],
        "sha256": dump["sha256"],
        "storages": result.storages,
    }
    return report


# --- daemon ----------------------------------------------------------------------------------


class _Stop:
    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        logger.info("backup daemon: signal %s, stopping after the current step", signum)
        self.event.set()


def run_once(alias: str, report: Report) -> bool:
    """One scheduled run under the replica lock: create, then cleanup. False if another holds it."""
    with claims.backup_lock(alias, wait_s=0) as held:
        if not held:
            report.add(
                "backup.daemon.locked",
                Severity.INFO,
                "another replica holds the backup lock; skipped this run",
                rank=80,
            )
            return False
        created = create_report(alias, "auto")
        report.extend(created.findings)
        if created.status is Severity.CRITICAL:
            return True
        cleaned = retention.cleanup(alias=alias)
        report.extend([f for f in cleaned.findings if f.severity >= Severity.WARNING])
    return True


def daemon(
    alias: str,
    *,
    once: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    max_runs: int | None = None,
    wait: Callable[[float], object] | None = None,
) -> Report:
    """Create + cleanup on BACKUP_SCHEDULE until SIGTERM. ``clock``/``wait`` are for tests."""
    report = Report("backup daemon", kind=ACTION)
    cron = Cron(conf.get("BACKUP_SCHEDULE"))
    if once:
        run_once(alias, report)
        return report
    stop = _Stop()
    sleep = wait or stop.event.wait
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, stop)
    runs = 0
    try:
        while not stop.event.is_set():
            target = cron.next_after(clock())
            logger.info("backup daemon: heartbeat; next backup at %s", target.isoformat())
            while not stop.event.is_set() and clock() < target:
                sleep(min(60.0, max(0.1, (target - clock()).total_seconds())))
                if clock() < target:
                    logger.debug("backup daemon: heartbeat; waiting for %s", target.isoformat())
            if stop.event.is_set():
                break
            run_once(alias, report)
            runs += 1
            if max_runs is not None and runs >= max_runs:
                break
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    report.add("backup.daemon.stopped", Severity.OK, f"daemon stopped after {runs} run(s)", rank=90)
    return report
