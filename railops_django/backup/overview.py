"""``backup list`` and ``backup report``: what exists, how old, how many copies, 3-2-1."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

from .. import conf
from ..report import REPORT, Report, Severity
from . import storage
from .archive import TIERS, ephemeral_findings
from .catalog import list_backups


def _age(then: datetime, now: datetime) -> str:
    hours = (now - then).total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


def listing(alias: str | None) -> Report:
    report = Report("backup list", kind=REPORT)
    backups = list_backups(alias, include_bad=True)
    now = datetime.now(UTC)
    report.extras["backups"] = [{**b.as_row(), "age": _age(b.created_at, now)} for b in backups]
    report.add(
        "backup.list",
        Severity.OK,
        f"{sum(b.good for b in backups)} good backup(s) of {alias or 'every database'}",
        rank=90,
    )
    return report


def report(alias: str | None, now: datetime | None = None) -> Report:
    out = Report("backup report", kind=REPORT)
    now = now or datetime.now(UTC)
    places = storage.configured()
    backups = list_backups(alias)
    out.extras["storages"] = [
        {"storage": p.describe(), "off_machine": not p.on_this_machine, "ephemeral": p.ephemeral}
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
    newest = backups[0]
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
    off_machine = [p.label for p in places if p.label in copies and not p.on_this_machine]
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
        "Add an S3 bucket (django-storages; Railway buckets work) to settings.STORAGES and "
        "list it with the local one: RAILOPS={'BACKUP_STORAGES': ['local', 'offsite']}",
        rank=5,
    )
    unverified = [b for b in backups[:1] if not b.verified]
    if unverified:
        out.add(
            "backup.report.unverified",
            Severity.INFO,
            f"the newest backup {newest.name} has not been verified",
            fix="python manage.py backup verify --latest --restore-test",
            rank=20,
        )
    previous = [b.manifest["dump"]["raw_bytes"] for b in backups[1:21]]
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
