"""``backup list`` and ``backup report``: what exists, how old, how many copies, 3-2-1."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from .. import conf
from ..db.identity import label as identity_label
from ..db.identity import reach
from ..report import REPORT, Report, Severity
from . import storage
from .archive import TIERS, ephemeral_findings
from .catalog import CLOCK_SKEW, bad_manifest_findings, scan, select, unreachable_findings


def _age(then: datetime, now: datetime) -> str:
    hours = (now - then).total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


def _others(backups: int, mine: int, report: Report, command: str) -> None:
    if backups > mine:
        report.add(
            "backup.other_databases",
            Severity.INFO,
            f"{backups - mine} backup(s) of other databases are not {command}",
            "Backups are matched to the database in use by their recorded identity (vendor, "
            "host, port, name, system identifier or file path).",
            "python manage.py backup list --all lists every database's backups.",
            rank=80,
        )


def _database(alias: str | None, report: Report) -> tuple[dict[str, Any] | None, str]:
    """The identity of ``alias``'s database (None: every database) and its label, looked up
    once; a warning when the database cannot be reached, since its backups are then told apart
    from another database's by the settings' host, port and name only."""
    if alias is None:
        return None, "every database"
    current, why = reach(alias)
    if why is not None:
        report.add(
            "backup.identity.unreached",
            Severity.WARNING,
            f"the database {alias!r} could not be reached: its backups are matched by host, "
            "port and name only",
            "Without the cluster's system identifier, another database at the same address "
            f"would count as this one. {why}",
            "Check DATABASE_URL and that the database is up (python manage.py db_health), then "
            "list again.",
            rank=5,
        )
    return current, identity_label(current)


def listing(alias: str | None) -> Report:
    report = Report("backup list", kind=REPORT)
    found = scan()
    report.extend(bad_manifest_findings(found.bad))
    report.extend(unreachable_findings(found))
    current, where = _database(alias, report)
    backups = select(found.backups.values(), alias, include_bad=True, current=current)
    now = datetime.now(UTC)
    report.extras["backups"] = [{**b.as_row(), "age": _age(b.created_at, now)} for b in backups]
    report.add(
        "backup.list",
        Severity.OK,
        f"{sum(b.good for b in backups)} good backup(s) of {where}",
        rank=90,
    )
    _others(len(found.backups), len(backups), report, "listed")
    return report


def report(alias: str | None, now: datetime | None = None) -> Report:
    out = Report("backup report", kind=REPORT)
    now = now or datetime.now(UTC)
    places = storage.configured()
    found = scan(places)
    out.extend(bad_manifest_findings(found.bad))
    out.extend(unreachable_findings(found))
    current, _where = _database(alias, out)
    backups = select(found.backups.values(), alias, current=current)
    mine = len(select(found.backups.values(), alias, include_bad=True, current=current))
    _others(len(found.backups), mine, out, "counted")
    out.extras["storages"] = [
        {"storage": p.describe(), "off_machine": storage.is_offsite(p), "ephemeral": p.ephemeral}
        for p in places
    ]
    by_tier = []
    for tier in TIERS:
        of_tier = [b for b in backups if b.tier == tier]
        if of_tier:
            newest = of_tier[0]
            by_tier.append(
                {
                    "tier": tier,
                    "count": len(of_tier),
                    "newest": newest.name,
                    "age": _age(newest.created_at, now),
                    "size": newest.manifest["dump"]["bytes"],
                    "copies": ",".join(newest.places),
                    "verified": sum(b.verified for b in of_tier),
                }
            )
    out.extras["tiers"] = by_tier
    out.extend(ephemeral_findings(places))
    max_age = float(conf.get("BACKUP_MAX_AGE"))
    if not backups:
        out.add(
            "backup.report.none",
            Severity.CRITICAL,
            "there is no good backup",
            f"None in {', '.join(p.describe() for p in places)}.",
            "python manage.py backup create (and schedule it: backup daemon, or a Railway cron "
            "service running 'backup create --if-due')",
            rank=0,
        )
        return out
    future = [b for b in backups if b.created_at > now + CLOCK_SKEW]
    if future:
        out.add(
            "backup.report.future",
            Severity.WARNING,
            f"{len(future)} backup(s) dated in the future, up to "
            f"{_age(now, future[0].created_at)} ahead: not counted as recent",
            f"{', '.join(b.name for b in future[:5])}: the clock of the machine that took them "
            "was wrong, or their manifests were edited.",
            "Check the clock (timedatectl, or the platform's), then take a backup now: python "
            "manage.py backup create.",
            rank=2,
        )
    dated = [b for b in backups if b.created_at <= now + CLOCK_SKEW]
    if not dated:
        out.add(
            "backup.report.rpo",
            Severity.CRITICAL,
            "no good backup is dated up to now: the recovery point is unknown",
            "Every good backup is dated in the future.",
            "Run 'python manage.py backup create' once the clock is right.",
            rank=1,
        )
        return out
    newest = dated[0]
    age_s = (now - newest.created_at).total_seconds()
    severity = (
        Severity.CRITICAL
        if age_s > 2 * max_age
        else Severity.WARNING
        if age_s > max_age
        else Severity.OK
    )
    out.add(
        "backup.report.rpo",
        severity,
        f"the newest good backup is {_age(newest.created_at, now)} old "
        f"(recovery point objective {max_age / 3600:g}h)",
        f"{newest.name}",
        "Run 'python manage.py backup create' and check the schedule (backup daemon or a cron "
        "service running 'backup create --if-due').",
        rank=1,
        age_s=round(age_s),
        max_age_s=max_age,
    )
    copies = set(newest.places)
    off_machine = [p.label for p in places if p.label in copies and storage.is_offsite(p)]
    compliant = len(copies) >= 2 and bool(off_machine)
    out.add(
        "backup.report.3_2_1",
        Severity.OK if compliant else Severity.WARNING,
        "3-2-1: "
        + (
            "copies in 2+ storages, one off this machine"
            if compliant
            else f"the newest backup has {len(copies)} cop(ies), "
            f"{len(off_machine)} off this machine"
        ),
        "3-2-1 asks for copies in at least 2 storages, at least 1 of them off this machine's "
        "disk or volume.",
        storage.OFFSITE_FIX + ".",
        rank=5,
    )
    if not newest.verified:
        out.add(
            "backup.report.unverified",
            Severity.INFO,
            f"the newest backup {newest.name} has not been verified",
            fix="python manage.py backup verify --latest --restore-test",
            rank=20,
        )
    previous = [b.manifest["dump"]["raw_bytes"] for b in dated[1:21]]
    if len(previous) >= 3:
        median = statistics.median(previous)
        size = newest.manifest["dump"]["raw_bytes"]
        if median and (size > 2 * median or size < median / 2):
            out.add(
                "backup.report.size_jump",
                Severity.WARNING,
                f"the newest backup is {size / median:.1f}x the median size of the earlier ones",
                f"{size:,} bytes dumped against a median of {median:,.0f}.",
                "Check for a mass delete or a runaway table before the old backups expire: "
                "compare 'tables' in the manifests (backup list --format json).",
                rank=3,
            )
    return out
