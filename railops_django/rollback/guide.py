"""emergency_rollback guide: the exact manual recovery commands for this project."""

from __future__ import annotations

from typing import Any

from django.db.migrations.exceptions import NodeNotFoundError

from ..backup import list_backups
from ..backup.restore import command as restore_command
from ..backup.restore import migration_difference
from ..db.schema import drift
from ..deploy.ledger import ledger_ready
from ..models import Release
from ..report import Report, Severity
from . import state


def _latest_backups(alias: str) -> list[str]:
    return [b.name for b in list_backups(alias)[:3]]


def _restore_advice(alias: str) -> str:
    """A restore command that ``backup restore`` accepts for this code: the newest backup of
    this database at the code's migration state, or the newest one with --force, saying why;
    never a safety copy of a state a restore or a recovery replaced (the broken state), as
    ``assess`` advises."""
    newest = [b for b in list_backups(alias) if not b.safety_for][:10]
    if not newest:
        return (
            "only safety copies of states that restores replaced are kept: python manage.py "
            "backup list, and restore one by name if it is the state you want"
        )
    for candidate in newest:
        if not any(migration_difference(candidate.manifest).values()):
            return restore_command(candidate.name)
    first = newest[0]
    diff = migration_difference(first.manifest)
    differs = ", ".join((diff["only_in_code"] + diff["only_in_backup"])[:3])
    return (
        f"{restore_command(first.name, force=True)} (no recent backup is "
        f"at this code's migration state; it differs in {differs}: --force restores it anyway, "
        "then bring the schema to the running code with python manage.py safe_migrate "
        "--noinput, or redeploy the code of that time first and restore without --force)"
    )


def manual_steps(alias: str) -> list[str]:
    """Numbered commands, with this project's real backup names and release ids."""
    lines = ["1. Take an emergency backup first: python manage.py emergency_rollback backup"]
    backups = _latest_backups(alias)
    releases: list[Release] = []
    if ledger_ready(alias):
        releases = list(Release.objects.using(alias).order_by("-started_at", "-id")[:5])
    current = releases[0] if releases else None
    previous = next((r for r in releases[1:] if r.status == Release.Status.SUCCEEDED), None)
    if current is not None and previous is not None:
        try:
            plan = state.back_plan(alias, previous.migrations_after)
        except NodeNotFoundError:  # this code lacks a recorded migration: list the targets
            plan = None
        migrate_lines = [
            f"python manage.py migrate {app} {leaf}"
            for app, leaf in (plan.targets.items() if plan else previous.migrations_after.items())
            if previous.migrations_after.get(app, "zero") != current.migrations_after.get(app)
        ]
        schema_first = bool(plan and plan.schema_first)
        # This code lacks applied migrations (it already went back, the schema did not): their
        # operations are not here to judge, so the live schema does. A table or column its
        # models need and the database lacks means it cannot run until the schema goes back.
        unknown = state.gap(alias).unknown_applied
        missing = (
            [f.title for f in drift(alias) if f.severity >= Severity.CRITICAL] if unknown else []
        )
        schema_first = schema_first or bool(missing)
        which = previous.railway_deployment_id or previous.git_sha[:12] or "its commit"
        code_step = (
            f"Railway dashboard > this service > Deployments > the deployment of release "
            f"{previous.pk} ({which}) > ... > Redeploy (roll back the code)"
        )
        schema_step = (
            f"Roll the schema back to release {previous.pk}: "
            + ("; ".join(migrate_lines) if migrate_lines else "nothing to unapply")
            + f" (or: python manage.py emergency_rollback recover --to-release {previous.pk})"
        )
        if missing:
            schema_step = (
                f"Roll the schema back to release {previous.pk} with the NEW code's manage.py, "
                f"the only one that has {', '.join(unknown[:3])} to reverse (redeploy release "
                f"{current.pk}'s code, or a checkout of it with DATABASE_URL set): "
                + ("; ".join(migrate_lines) if migrate_lines else "nothing to unapply")
                + f" (or there: python manage.py emergency_rollback recover --to-release "
                f"{previous.pk})"
            )
        elif not schema_first and migrate_lines:
            # Only the new code has the migrations to reverse: the old code's manage.py says
            # "No installed app with label ..." or cannot find the migration files.
            schema_step = (
                f"Then, if the schema is to go back to release {previous.pk} at all (the old "
                "code runs on it as it is), roll it back with the NEW code's manage.py, which "
                "has the migrations to reverse (a checkout of the new code with DATABASE_URL "
                "set, or before step 3): "
                + "; ".join(migrate_lines)
                + f" (or there: python manage.py emergency_rollback recover --to-release "
                f"{previous.pk})"
            )
        order = [schema_step, code_step] if schema_first else [code_step, schema_step]
        reason = (
            f"this code lacks the applied migration(s) {', '.join(unknown[:3])} and the "
            f"database lacks what its models need ({'; '.join(missing[:3])}), so the schema "
            "goes back first, with the code that has those migrations, then the code"
            if missing
            else "the old code needs the old schema (columns or tables were removed, renamed or "
            "altered), so the schema goes back first, while the new code, which can reverse "
            "its migrations, is still deployed"
            if schema_first
            else "the old code runs on the new schema (it only gained columns or tables), so "
            "the code goes back first"
        )
        lines.append(f"2. Order: {reason}.")
        lines += [f"{n}. {text}" for n, text in enumerate(order, 3)]
    else:
        lines.append("2. No earlier succeeded release is recorded: restore a backup instead.")
    number = len(lines) + 1
    if backups:
        lines.append(
            f"{number}. Or restore a backup (newest first: {', '.join(backups)}): "
            + _restore_advice(alias)
        )
    else:
        lines.append(f"{number}. No backup found: python manage.py backup list")
    lines.append(f"{number + 1}. Check: python manage.py emergency_rollback assess")
    return lines


def guide(alias: str) -> Report:
    report = Report("emergency_rollback")
    steps = manual_steps(alias)
    report.extras["manual_guide"] = steps
    report.add(
        "rollback.guide",
        Severity.INFO,
        f"Manual recovery guide for this project: {len(steps)} steps, below",
        fix=steps[0].split(": ", 1)[-1],
    )
    releases: list[dict[str, Any]] = []
    if ledger_ready(alias):
        from ..deploy.ledger import recent

        releases = recent(alias, 5)
    report.extras["releases"] = releases
    return report
