"""emergency_rollback backup / recover: an emergency backup first, then the way back.

By default the schema goes back to the migration state of the last succeeded release before
the current one. Steps that cannot be reversed, or that destroy data when reversed, are refused
unless the user accepts the loss; the backup to restore instead is named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError
from django.db.migrations.exceptions import IrreversibleError, NodeNotFoundError
from django.utils import timezone

from .. import redact
from ..backup import BackupFailed, create, restore
from ..backup.archive import failed_finding
from ..backup.catalog import find
from ..backup.restore import check_database
from ..db import connection as dbconn
from ..models import Release
from ..report import ACTION, CannotRun, Finding, Report, Severity
from . import state
from .assess import assess
from .guide import manual_steps
from .target import target_release


def emergency_backup(alias: str, safety_for: str | None = None) -> Report:
    """A fast backup (tier emergency): no retention, checksum verification only.

    ``safety_for`` when it is the safety copy of a state a recovery is about to replace.
    """
    report = Report("emergency_rollback", kind=ACTION)
    try:
        result = create(alias, tier="emergency", safety_for=safety_for)
    except BackupFailed as exc:  # a full disk, a storage that does not answer
        report.findings.append(
            failed_finding(exc, "python manage.py emergency_rollback backup", "emergency backup")
        )
        return report
    report.extend(result.findings)
    report.add(
        "rollback.backup",
        Severity.OK,
        f"Emergency backup {result.name} written",
        backup=result.name,
    )
    report.extras["backup"] = result.name
    return report


@dataclass
class RecoverOptions:
    alias: str = "default"
    to_release: int | None = None
    backup: str = ""
    dry_run: bool = False
    accept_data_loss: bool = False
    confirm: Callable[[str], bool] = lambda question: True


def recover(options: RecoverOptions) -> Report:
    report = Report("emergency_rollback", kind=ACTION)
    steps: list[str] = []
    report.extras["steps"] = steps
    alias = options.alias
    try:
        return _recover(options, report, steps)
    except (DatabaseError, IrreversibleError, OSError, _ReverseFailed) as exc:
        cause = exc.__cause__ if isinstance(exc, _ReverseFailed) and exc.__cause__ else exc
        emergency = report.extras.get("emergency_backup")
        report.add(
            "rollback.recover.failed",
            Severity.CRITICAL,
            "Recovery stopped with an error; follow the manual guide",
            detail=redact.mask_exception(cause),
            fix=(
                f"Migrations unapplied before the error stay unapplied (python manage.py "
                f"showmigrations); to put everything back as it was: python manage.py backup "
                f"restore {emergency} --noinput. "
                if emergency
                else ""
            )
            + "The steps below restore by hand.",
            rank=0,
        )
        report.extras["manual_guide"] = manual_steps(alias)
        return report


class _ReverseFailed(Exception):
    """The project's own migration code raised while unapplying (a reverse_code with a bug):
    any exception, where railops' own code raises only the ones ``recover`` expects."""


def _refuse_unknown_applied(alias: str, release: Release) -> None:
    """CannotRun when migrations this code does not have are applied and not part of
    ``release``'s state: they would have to be reversed, and only the code that has them can
    (the plan leaves out apps the code does not know, and said "already at release N's state"
    while they stayed applied)."""
    recorded = release.migrations_after or {}

    def in_release(name: str) -> bool:
        app, migration = name.split(".", 1)
        leaf = str(recorded.get(app, "zero"))
        return leaf != "zero" and migration <= leaf  # numbered names sort in order

    stranded = [name for name in state.gap(alias).unknown_applied if not in_release(name)]
    if stranded:
        raise CannotRun(
            f"{len(stranded)} applied migration(s) are not release {release.pk}'s and this code "
            f"does not have them ({', '.join(stranded[:3])}), so it cannot reverse them: run "
            "emergency_rollback recover from the code that has them, or restore a backup taken "
            f"at release {release.pk}'s state (emergency_rollback assess names one: recover "
            "--backup NAME)"
        )


def _recover(options: RecoverOptions, report: Report, steps: list[str]) -> Report:
    alias = options.alias
    if options.backup:
        chosen = find(options.backup, alias)  # an unknown name is refused before anything is done
        # so is another database's backup, before the emergency backup; recover has no
        # --from-database, backup restore does (the identity needs the live database)
        dbconn.require(alias)
        check_database(
            chosen,
            alias,
            None,
            how=f"python manage.py backup restore {chosen.name} --from-database {{theirs}} "
            "(recover restores only this database's backups)",
        )
        plan_text = f"restore backup {options.backup} into database {alias!r}"
        release = None
        plan = None
    else:
        release = target_release(alias, options.to_release)
        try:
            plan = state.back_plan(alias, release.migrations_after)
        except NodeNotFoundError as exc:
            raise CannotRun(
                f"release {release.pk} recorded migration {exc.node[0]}.{exc.node[1]}, which this "
                "code does not have: deploy that release's code, or use --backup NAME"
            ) from None
        _refuse_unknown_applied(alias, release)
        report.extras["rollback_plan"] = {
            "release": release.pk,
            "targets": plan.targets,
            "unapply": [s.migration for s in plan.steps],
        }
        refusal = _refusal(plan, release, options.accept_data_loss)
        if refusal is not None:
            report.findings.append(refusal)
            return report
        if not plan.steps:
            report.add(
                "rollback.nothing",
                Severity.OK,
                f"The schema is already at release {release.pk}'s state",
            )
            return report
        plan_text = (
            f"unapply {len(plan.steps)} migration(s) to reach release {release.pk}'s state: "
            + ", ".join(s.migration for s in plan.steps)
        )

    if options.dry_run:
        steps.append("Would take an emergency backup (tier emergency)")
        steps.append(f"Would {plan_text}")
        report.add("rollback.dry_run", Severity.OK, f"Dry run: would {plan_text}")
        return report
    if not options.confirm(f"This will {plan_text}. Continue?"):
        raise CannotRun("recovery cancelled; nothing was changed")

    backup = emergency_backup(alias, safety_for=f"emergency_rollback recover: {plan_text}")
    report.extend([f for f in backup.findings if f.severity >= Severity.WARNING])
    if "backup" not in backup.extras:  # failed: nothing is changed without the safety copy
        steps.append("Stopped: the emergency backup failed; nothing was changed")
        return report
    steps.append(f"Took emergency backup {backup.extras['backup']}")
    report.extras["emergency_backup"] = backup.extras["backup"]

    if options.backup:
        # The emergency backup above is the safety copy; restore need not take another.
        restored = restore(options.backup, alias, force=True, safety_backup=False)
        report.extend(restored.findings)
        steps.append(f"Restored backup {options.backup}")
        if restored.status is Severity.CRITICAL:
            report.extras["manual_guide"] = manual_steps(alias)
            return report
    else:
        assert release is not None and plan is not None
        try:
            done = state.unapply(alias, release.migrations_after)
        except (DatabaseError, IrreversibleError, OSError):
            raise
        except Exception as exc:  # a RunPython reverse_code raising what it likes
            raise _ReverseFailed(str(exc)) from exc
        steps.extend(f"Unapplied {name}" for name in done)
        newer = (
            Release.objects.using(alias)
            .filter(id__gt=release.pk)
            .exclude(status__in=[Release.Status.ROLLED_BACK, Release.Status.FAILED])
        )  # a failed release stays failed: that is what happened to it
        rolled = list(newer.values_list("pk", flat=True))
        newer.update(status=Release.Status.ROLLED_BACK, finished_at=timezone.now())
        steps.append(f"Marked release(s) {rolled} rolled back")
        report.add(
            "rollback.recovered",
            Severity.OK,
            f"Schema rolled back to release {release.pk}'s state",
            detail="\n".join(steps),
            rolled_back=rolled,
        )
    after = assess(alias)
    report.extras["assess_after"] = [f.as_dict() for f in after.sorted_findings()]
    return report


def _refusal(plan: state.BackPlan, release: Release, accept_data_loss: bool) -> Finding | None:
    current = Release.objects.using(release._state.db).order_by("-started_at", "-id").first()
    backup_hint = (
        f"python manage.py emergency_rollback recover --backup {current.backup_name}"
        if current is not None and current.backup_name
        else "python manage.py emergency_rollback recover --backup NAME (backup list)"
    )
    if plan.irreversible:
        names = ", ".join(f"{s.migration} ({'; '.join(s.irreversible)})" for s in plan.irreversible)
        return Finding(
            "rollback.irreversible",
            Severity.CRITICAL,
            "Refused: the way back includes irreversible migrations",
            detail=names,
            fix=f"Restore the backup taken before the release instead: {backup_hint}",
            rank=0,
            data={"migrations": [s.migration for s in plan.irreversible]},
        )
    if plan.lossy and not accept_data_loss:
        names = ", ".join(f"{s.migration} ({'; '.join(s.loses_data)})" for s in plan.lossy)
        return Finding(
            "rollback.data_loss",
            Severity.CRITICAL,
            "Refused: reversing these migrations drops data written since",
            detail=names,
            fix="Re-run with --accept-data-loss to drop it, or restore the backup instead: "
            + backup_hint,
            rank=0,
            data={"migrations": [s.migration for s in plan.lossy]},
        )
    return None
