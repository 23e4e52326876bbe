"""GFS retention, judged by the manifests' timestamps, and the removal of incomplete leftovers.

The grandfather-father-son set is the newest backup of each of the most recent N days, N ISO
weeks and N months that have a backup (RAILOPS BACKUP_RETENTION: daily 7, weekly 4, monthly 12).
Emergency and predeploy backups are kept for BACKUP_SPECIAL_RETENTION_DAYS instead. On top of
that, cleanup never deletes the newest verified backup and never leaves fewer than
BACKUP_MIN_GOOD good backups.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .. import conf
from ..redact import logger
from ..report import ACTION, Report, Severity
from . import claims, storage
from .archive import manifest_name
from .catalog import (
    CLOCK_SKEW,
    Backup,
    bad_manifest_findings,
    rollback_plan_name,
    scan,
    select,
    unreachable_findings,
)
from .storage import StorageError

SPECIAL = ("emergency", "predeploy")
LEFTOVER_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class Item:
    name: str
    created_at: datetime
    tier: str
    verified: bool = False
    good: bool = True


@dataclass(frozen=True)
class Decision:
    name: str
    keep: bool
    reason: str


def _period_keys() -> dict[str, Callable[[datetime], Hashable]]:
    return {
        "daily": lambda t: t.date(),
        "weekly": lambda t: t.isocalendar()[:2],
        "monthly": lambda t: (t.year, t.month),
    }


def gfs_set(items: list[Item], retention: dict[str, int]) -> dict[str, str]:
    """name -> reason, for the newest item in each of the most recent N periods of each kind."""
    keep: dict[str, str] = {}
    newest_first = sorted(items, key=lambda i: (i.created_at, i.name), reverse=True)
    for kind, key in _period_keys().items():
        wanted = retention.get(kind, 0)
        seen: set[Hashable] = set()
        for item in newest_first:
            if len(seen) >= wanted:
                break
            period = key(item.created_at)
            if period in seen:
                continue
            seen.add(period)
            keep.setdefault(item.name, f"{kind} {period}")
    return keep


def plan(
    items: list[Item],
    now: datetime,
    retention: dict[str, int],
    special_days: int,
    min_good: int,
) -> list[Decision]:
    """Keep/delete for every item, newest first.

    A backup dated in the future (a wrong clock, an edited manifest) is kept and counts for
    nothing: it would otherwise hold one of the newest periods, and a real backup would go.
    """
    future = {i.name for i in items if i.created_at > now + CLOCK_SKEW}
    dated = [i for i in items if i.name not in future]
    regular = [i for i in dated if i.tier not in SPECIAL and i.good]
    keep = gfs_set(regular, retention)
    for item in dated:
        if item.tier in SPECIAL and item.good and now - item.created_at < timedelta(special_days):
            keep[item.name] = f"{item.tier}, younger than {special_days} days"
    newest_first = sorted(dated, key=lambda i: (i.created_at, i.name), reverse=True)
    verified = next((i for i in newest_first if i.verified and i.good), None)
    if verified is not None:
        keep.setdefault(verified.name, "newest verified backup")
    good_kept = sum(1 for i in dated if i.name in keep and i.good)
    for name in future:
        keep[name] = "dated in the future: kept, and not counted"
    for item in newest_first:
        if good_kept >= min_good:
            break
        if item.good and item.name not in keep:
            keep[item.name] = f"minimum of {min_good} good backup(s)"
            good_kept += 1
    everything = sorted(items, key=lambda i: (i.created_at, i.name), reverse=True)
    return [
        Decision(i.name, i.name in keep, keep.get(i.name, "outside retention")) for i in everything
    ]


def _item(backup: Backup) -> Item:
    return Item(backup.name, backup.created_at, backup.tier, backup.verified, backup.good)


def _is_ours(filename: str) -> bool:
    return (
        filename.endswith(".zst")
        or (filename.startswith(".") and filename.endswith(".tmp") and ".zst." in filename)
        or (filename.startswith(".") and filename.endswith(".claim"))
        or filename.startswith(".railops-write-check")
    )


def _owned_by(filename: str, stems: set[str]) -> bool:
    """Whether ``filename`` is (or belongs to) one of the backups named ``stems``."""
    return any(filename == f"{s}.json" or filename.startswith(f"{s}.") for s in stems)


def cleanup(
    *, dry_run: bool = False, now: datetime | None = None, alias: str = "default"
) -> Report:
    """Apply retention to the backups of the database ``alias`` points at; remove leftovers.

    Backups of other databases are left alone. A file is deleted only when no kept manifest
    (nor a manifest that failed validation) refers to it, and the files a backup owns are
    derived from its name, never read from its manifest.
    """
    report = Report("backup cleanup", kind=ACTION)
    now = now or datetime.now(UTC)
    found = scan()
    backups = found.backups
    report.extend(bad_manifest_findings(found.bad))
    report.extend(unreachable_findings(found))
    mine = select(backups.values(), alias, include_bad=True)
    decisions = plan(
        [_item(b) for b in mine],
        now,
        conf.get("BACKUP_RETENTION"),
        conf.get("BACKUP_SPECIAL_RETENTION_DAYS"),
        conf.get("BACKUP_MIN_GOOD"),
    )
    deleted = {d.name for d in decisions if not d.keep}
    # every manifest still standing after this run, the skipped invalid ones included
    standing = {n for n in backups if n not in deleted} | {b.filename[:-5] for b in found.bad}
    verb = "Would delete" if dry_run else "Deleted"
    rows, failures = [], 0
    # a storage that could not be listed is left alone: its files are deleted once it answers
    places = found.reachable(storage.configured())
    for decision in decisions:
        rows.append({"name": decision.name, "keep": decision.keep, "reason": decision.reason})
        if decision.keep:
            continue
        backup = backups[decision.name]
        # manifest first: the backup stops counting before its dump goes
        files = (manifest_name(backup.name), backup.file, rollback_plan_name(backup.name))
        owned = [f for f in files if not _owned_by(f, standing)]
        for place in places:
            for filename in owned:
                if not storage.exists(place, filename):
                    continue
                if dry_run:
                    continue
                try:
                    storage.delete(place, filename)
                except (OSError, StorageError) as exc:
                    failures += 1
                    logger.error("could not delete %s from %s: %s", filename, place.label, exc)
        report.add(
            "backup.cleanup.deleted",
            Severity.INFO,
            f"{verb} {decision.name} ({decision.reason})",
            rank=70,
            backup=decision.name,
        )
    others = len(backups) - len(mine)
    if others:
        report.add(
            "backup.cleanup.other_databases",
            Severity.INFO,
            f"{others} backup(s) of other databases were left alone",
            "Retention applies to the backups of the database in use; run cleanup with "
            "DATABASE_URL (or --database) pointing at another database to prune its backups.",
            rank=80,
        )
    dead = claims.sweep_dead(places, dry_run=dry_run)
    if dead:
        report.add(
            "backup.cleanup.dead_claims",
            Severity.INFO,
            f"{'Would remove' if dry_run else 'Removed'} {len(dead)} file(s) of killed runs",
            "Claims, and the temp files beside them, of creates on this host whose process is "
            "gone: " + ", ".join(dead[:10]),
            rank=70,
            removed=dead,
        )
    known = set(backups) | standing
    for place in places:
        try:
            names = storage.files(place)
        except StorageError as exc:  # stopped answering since the scan
            logger.warning("no leftover sweep of %s: %s", place.label, exc)
            continue
        for filename in names:
            if not _is_ours(filename) or _owned_by(filename, known):
                continue
            try:
                age = now - storage.modified(place, filename)
            except (OSError, NotImplementedError):
                continue
            if age < LEFTOVER_AGE:
                continue
            if not dry_run:
                try:
                    storage.delete(place, filename)
                except (OSError, StorageError) as exc:
                    failures += 1
                    logger.error("could not delete %s from %s: %s", filename, place.label, exc)
                    continue
            report.add(
                "backup.cleanup.leftover",
                Severity.INFO,
                f"{verb} incomplete leftover {filename} in {place.label}",
                f"No manifest names it and it is {age.total_seconds() / 3600:.1f} h old.",
                rank=70,
                file=filename,
            )
    if failures:
        report.add(
            "backup.cleanup.failed",
            Severity.CRITICAL,
            f"{failures} file(s) could not be deleted",
            "See the railops log for each file and its error.",
            "Check the storage's permissions, then run 'python manage.py backup cleanup' again.",
            rank=1,
        )
    from .verify import sweep_leftovers  # scratch files and databases of killed runs

    sweep_leftovers(report, dry_run=dry_run)
    kept = sum(1 for d in decisions if d.keep)
    report.add(
        "backup.cleanup.summary",
        Severity.OK,
        f"{'Would keep' if dry_run else 'Kept'} {kept} of {len(decisions)} backup(s)",
        rank=90,
    )
    report.extras["retention_plan"] = rows
    return report
