"""Restore a backup: migration state check, checksum first, safety backup, one transaction."""

from __future__ import annotations

import time
from typing import Any

from django.db import DatabaseError

from .. import redact
from ..db import backup_engine, vendor
from ..db import connection as dbconn
from ..db.backup_engine import EngineError
from ..db.identity import identity
from ..db.identity import key as identity_key
from ..db.identity import label as identity_label
from ..db.identity import same as same_database
from ..redact import logger
from ..report import ACTION, CannotRun, Finding, Report, Severity
from . import archive, ledger_kept
from .catalog import Backup, find, scan, unreachable_findings
from .verify import Spool, copy_to_read, stream


def command(name: str, *, force: bool = False) -> str:
    """The command that restores backup ``name`` without a prompt, as advice prints it: every
    fix that names a restore builds it here, so that following one runs what exists."""
    if force:
        return f"python manage.py backup restore {name} --noinput --force"
    return f"python manage.py backup restore {name} --noinput"


def migration_difference(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Migrations the backup has that the code lacks, and the reverse."""
    backup = {(app, n) for app, names in manifest.get("migrations", {}).items() for n in names}
    for squashed, replaced in archive.squashed_migrations().items():
        # taken before the squash existed: Django counts a squash applied once all it replaces are
        if replaced and replaced <= backup:
            backup.add(squashed)
    code = {(app, n) for app, names in archive.code_migrations().items() for n in names}
    return {
        "only_in_backup": sorted(f"{a}.{n}" for a, n in backup - code),
        "only_in_code": sorted(f"{a}.{n}" for a, n in code - backup),
    }


def _refuse_leftovers(backup: Backup, engine: Any, alias: str, only_in_code: list[str]) -> None:
    """CannotRun, before anything changes, when the restore would leave tables the backup does
    not hold while the code has migrations the backup lacks: those tables are likely theirs,
    and with their django_migrations rows gone the next migrate fails on them ('relation
    already exists'). Unapplying those migrations first makes the restore a clean one."""
    left = engine.leftover_tables(alias, backup.manifest)
    if not left:
        return
    recorded = backup.manifest.get("migrations") or {}
    apps = sorted({name.split(".", 1)[0] for name in only_in_code})
    commands = "; ".join(
        f"python manage.py migrate {app} {(sorted(recorded.get(app) or []) or ['zero'])[-1]}"
        for app in apps
    )
    raise CannotRun(
        f"{len(left)} table(s) exist that {backup.name} does not hold "
        f"({', '.join(left[:5])}{', ...' if len(left) > 5 else ''}): the restore would leave "
        "them without the migrations that made them, and the next migrate would fail on "
        f"them. Unapply the migrations the backup lacks first ({commands}), then restore it "
        "again with --force (this code still has them: 'python manage.py safe_migrate' "
        "applies them to the restored data after); nothing was changed"
    )


def check_database(
    backup: Backup, alias: str, from_database: str | None, *, how: str = ""
) -> list[Finding]:
    """Refuse (CannotRun) to restore another database's backup unless ``from_database`` names it.

    Called before anything changes (and before the confirmation prompt); says both identities.
    """
    current = identity(alias)
    if backup.database is None:
        return [
            Finding(
                "backup.restore.identity_unknown",
                Severity.WARNING,
                f"{backup.name} records no database identity (an older backup)",
                f"It was taken of alias {backup.alias!r} ({backup.manifest.get('vendor')}); "
                f"it is restored into {identity_label(current)}.",
                "Check it is this database's backup (backup list); new backups record it.",
                rank=10,
            )
        ]
    if same_database(backup.database, current):
        return []
    theirs = identity_key(backup.database)
    names = {theirs, str(backup.database.get("name") or ""), str(backup.database.get("path") or "")}
    if from_database is None or from_database not in names - {""}:
        raise CannotRun(
            f"backup {backup.name} is of {identity_label(backup.database)}, and database "
            f"{alias!r} is {identity_label(current)}: restoring it would replace this "
            "database's data with another database's; nothing was changed. If that is what you "
            + (
                f"want: {how.format(theirs=theirs)}"
                if how
                else f"want, add --from-database {theirs}"
            )
        )
    return [
        Finding(
            "backup.restore.other_database",
            Severity.WARNING,
            f"restoring a backup of another database: {identity_label(backup.database)}",
            f"into {identity_label(current)} (--from-database {from_database}).",
            rank=10,
            data={"from": theirs, "into": identity_key(current)},
        )
    ]


# How far this process's restore got: the line Ctrl-C prints says what is true (``stage_note``).
_stage = {"now": ""}

_STAGE_NOTES = {
    "": "",
    "restoring": (
        "the restore was loading in one transaction, which is rolled back: the database holds "
        "what it held before (a native restore into an empty database may have left the empty "
        "tables its migrations made); 'python manage.py emergency_rollback assess' shows it"
    ),
    "restored": (
        "the backup was restored; what follows it (privileges, the release ledger, ANALYZE) "
        "may not have finished: run ANALYZE, and check 'railway_deploy --history'"
    ),
}


def stage_note() -> str:
    """What stays true after Ctrl-C during this process's restore (empty when none ran)."""
    return _STAGE_NOTES[_stage["now"]]


def restore(
    name: str | None = None,
    alias: str = "default",
    *,
    force: bool = False,
    latest: bool = False,
    safety_backup: bool = True,
    dry_run: bool = False,
    from_database: str | None = None,
) -> Report:
    """Restore ``name`` (or the newest good backup of ``alias``) into ``alias``."""
    report = Report("backup restore", kind=ACTION)
    dbconn.require(alias)  # the backup to pick and the target both need the live database
    found = scan()
    backup = find(name, alias, latest=latest, to_restore=True, found=found)
    manifest = backup.manifest
    if manifest.get("vendor") != vendor(alias):
        raise CannotRun(
            f"backup {backup.name} is a {manifest.get('vendor')} backup and database {alias!r} is "
            f"{vendor(alias)}: restore it into a {manifest.get('vendor')} database"
        )
    report.extras["restore"] = {"backup": backup.name, "database": alias}
    report.findings.extend(check_database(backup, alias, from_database))
    report.extend(unreachable_findings(found))
    diff = migration_difference(manifest)
    if (diff["only_in_backup"] or diff["only_in_code"]) and not force:
        report.add(
            "backup.restore.migrations_differ",
            Severity.CRITICAL,
            f"refused: {backup.name} was taken at a different migration state than this code",
            "In the backup, not in the code: "
            + (", ".join(diff["only_in_backup"][:10]) or "none")
            + ". In the code, not in the backup: "
            + (", ".join(diff["only_in_code"][:10]) or "none")
            + ".",
            "Deploy the code that matches the backup, or restore anyway with --force and then "
            "run 'python manage.py migrate'.",
            rank=1,
            **diff,
        )
        return report
    engine = backup_engine.by_name(manifest["engine"])
    if diff["only_in_code"]:
        _refuse_leftovers(backup, engine, alias, diff["only_in_code"])
    place, checks, spool = copy_to_read(backup)
    try:
        if place is None:
            report.add(
                "backup.restore.checksum",
                Severity.CRITICAL,
                f"refused: no copy of {backup.name} matches its sha256; nothing was changed",
                "; ".join(f"{c.label}: {c.error or 'sha256 mismatch'}" for c in checks)
                or "no copies",
                "Restore an earlier backup: python manage.py backup list, then backup restore NAME",
                rank=1,
            )
            return report
        engine.preflight(alias)
        if dry_run:
            report.add(
                "backup.restore.dry_run",
                Severity.OK,
                f"Would restore {backup.name} into {alias!r} from {place.label}"
                + (", after an emergency safety backup" if safety_backup else ""),
                "The checksum matches and the migration state allows it.",
                rank=90,
            )
            return report
        unreachable = list(found.unreachable)
        return _restore(backup, place, engine, alias, report, safety_backup, unreachable, spool)
    finally:
        if spool is not None:
            spool.remove()


def _restore(
    backup: Backup,
    place: Any,
    engine: Any,
    alias: str,
    report: Report,
    safety_backup: bool,
    unreachable: list[str],
    spool: Spool | None,
) -> Report:
    if safety_backup:
        try:
            safety = archive.create(alias, "emergency", safety_for=f"restore of {backup.name}")
        except archive.BackupFailed as exc:
            if unreachable:  # an outage: say how to restore from the copy that answers
                raise CannotRun(
                    f"the safety backup must reach every storage and {', '.join(unreachable)} "
                    f"does not answer ({exc}); nothing was changed. Restore {backup.name} once "
                    f"it answers, or take it out of RAILOPS['BACKUP_STORAGES'] (or "
                    "RAILOPS_BACKUP_STORAGES) for this restore, e.g. RAILOPS_BACKUP_STORAGES="
                    f"{place.label}"
                ) from None
            report.add(
                "backup.restore.safety_backup",
                Severity.CRITICAL,
                "refused: the safety backup of the current database failed; nothing was changed",
                str(exc),
                "Fix the backup storage first (python manage.py backup create shows why).",
                rank=1,
            )
            return report
        report.extras["restore"]["safety_backup"] = safety.name
    ledger = _read_ledger(alias)
    samples = _read_samples(alias, backup)
    started = time.monotonic()
    _stage["now"] = "restoring"
    try:
        done = engine.restore(
            alias, stream(place, backup, f"{backup.name}: restored", spool), backup.manifest
        )
    except EngineError as exc:
        _stage["now"] = ""  # rolled back, and the report says so
        logger.error("restore of %s failed: %s", backup.name, exc)
        report.add(
            "backup.restore.failed",
            Severity.CRITICAL,
            f"restore of {backup.name} failed; the database was left as it was",
            redact.mask_text(str(exc)),
            "Read the error above; the safety backup "
            f"{report.extras['restore'].get('safety_backup', '-')} holds the state before.",
            rank=1,
        )
        return report
    _stage["now"] = "restored"
    seconds = round(time.monotonic() - started, 3)
    report.extras["restore"].update({"from_storage": place.label, "seconds": seconds})
    _grants(done or {}, report)
    _put_ledger_back(alias, ledger, backup, report)
    _put_samples_back(alias, samples, report)
    _analyze(engine, alias, backup, report)
    report.add(
        "backup.restore.done",
        Severity.OK,
        f"restored {backup.name} into {alias!r} in {seconds:.1f}s",
        f"from {place.label}; {len(backup.manifest.get('tables', {}))} tables",
        rank=90,
    )
    return report


def _read_ledger(alias: str) -> list[dict[str, Any]]:
    try:
        return ledger_kept.read(alias)
    except DatabaseError as exc:  # the restore says more, if the database is really gone
        logger.warning("could not read the release ledger before the restore: %s", exc)
        return []


def _read_samples(alias: str, backup: Backup) -> list[dict[str, Any]]:
    try:
        return ledger_kept.samples_since(alias, backup.created_at)
    except DatabaseError as exc:
        logger.warning("could not read the health samples before the restore: %s", exc)
        return []


def _put_samples_back(alias: str, samples: list[dict[str, Any]], report: Report) -> None:
    """The health samples recorded since the backup, back beside the restored ones."""
    try:
        kept = ledger_kept.put_samples_back(alias, samples)
    except DatabaseError as exc:
        report.add(
            "backup.restore.health_samples",
            Severity.WARNING,
            f"the {len(samples)} health sample(s) recorded since the backup are gone",
            redact.mask_text(str(exc)),
            "The dashboard's history charts have a gap from the backup's time to now.",
            rank=43,
        )
        return
    if kept:
        report.extras["restore"]["health_samples_kept"] = kept


def _put_ledger_back(
    alias: str, ledger: list[dict[str, Any]], backup: Backup, report: Report
) -> None:
    """The release ledger as it was before the restore, with what it undid rolled back."""
    try:
        rolled = ledger_kept.put_back(alias, ledger, backup.name)
    except DatabaseError as exc:
        report.add(
            "backup.restore.ledger",
            Severity.WARNING,
            "the release ledger is the backup's: the releases since are gone from its history",
            redact.mask_text(str(exc)),
            "railway_deploy --history shows only the releases up to the backup.",
            rank=42,
        )
        return
    if rolled:
        report.extras["restore"]["releases_rolled_back"] = rolled


def _grants(done: dict[str, Any], report: Report) -> None:
    """The live database's privileges the engine granted again, and any it could not."""
    if "grants" in done:
        report.extras["restore"]["grants"] = done["grants"]
    lost = list(done.get("grants_lost") or [])
    if lost:
        report.extras["restore"]["grants_lost"] = lost
        shown = "; ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
        report.add(
            "backup.restore.grants",
            Severity.WARNING,
            f"{len(lost)} privilege(s) the database had before the restore are not back",
            shown,
            "Grant them again (GRANT ... TO role) once you know the objects they were on.",
            rank=41,
        )


def _analyze(engine: Any, alias: str, backup: Backup, report: Report) -> None:
    """ANALYZE what was restored: without it the planner guesses until autovacuum comes."""
    try:
        done = engine.analyze_restored(alias, backup.manifest)
    except Exception as exc:  # the rows are in; only the statistics are missing
        logger.warning("ANALYZE after restoring %s failed: %s", backup.name, exc)
        report.add(
            "backup.restore.analyze",
            Severity.WARNING,
            "the restored tables were not analyzed: the planner has no statistics yet",
            redact.mask_text(str(exc)),
            "Run ANALYZE on the database (python manage.py dbshell, then ANALYZE;).",
            rank=40,
        )
        return
    report.extras["restore"]["analyze"] = done
    report.add(
        "backup.restore.analyzed",
        Severity.OK,
        f"analyzed {done['tables']} restored table(s) in {done['seconds']:.1f}s",
        rank=91,
    )
