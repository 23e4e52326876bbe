"""railway_deploy: the pre-deploy pipeline and the release ledger."""

from __future__ import annotations

from ..backup import storage as backup_storage
from ..backup.restore import command as restore_command
from ..migrate import current_state
from ..migrate.rollback import summary_lines
from ..migrate.rules import resolve
from ..models import Release
from ..report import CannotRun, Report, Severity
from .ledger import ReleaseRecord, recent
from .pipeline import Context, Options, execute
from .steps import STEPS

__all__ = ["Options", "history", "run"]


def check_options(options: Options) -> None:
    """Bad input is refused before any step runs (exit 3), as safe_migrate refuses it."""
    resolve(list(options.allow_unsafe))
    for value, flag in (
        (options.lock_timeout_ms, "--lock-timeout"),
        (options.statement_timeout_ms, "--statement-timeout"),
        (options.retries, "--retries"),
    ):
        if value is not None and value < 0:
            raise CannotRun(f"{flag} must be a whole number >= 0, got {value!r}")
    # BACKUP_STORAGES naming a storage settings.STORAGES lacks: the one line every command
    # gives, not a crash of the backup step (exit 2) after the release was recorded.
    backup_storage.configured()


def run(options: Options) -> Report:
    check_options(options)
    ctx = Context(options=options, release=ReleaseRecord(alias=options.alias))
    report = execute(STEPS, ctx)
    _rollback_plan(report, ctx)
    report.text_summary["dry_run"] = []  # the headline says it
    failed = ctx.state.get("failed_step", "")
    if options.dry_run:
        report.extras["release"] = None
        report.headline = (
            f"Dry run: would stop at step {failed!r}; nothing was changed."
            if failed
            else "Dry run: every step would run; nothing was changed."
        )
        return report
    if failed:
        changed = _database_changed(ctx)
        row = ctx.release.finish(Release.Status.FAILED, failed_step=failed)
        _add_failure(report, ctx, failed, changed, marked=row is not None)
    else:
        row = ctx.release.finish(Release.Status.SUCCEEDED)
        report.headline = _success_headline(ctx, row)
    report.extras["release"] = (
        {"id": row.pk, "status": row.status, "backup": row.backup_name} if row else None
    )
    report.text_summary["release"] = []  # the headline names it
    return report


def _rollback_plan(report: Report, ctx: Context) -> None:
    plan = ctx.state.get("rollback_plan")
    if not plan:
        return
    path = ctx.state.get("rollback_plan_file")
    report.extras["rollback_plan"] = plan
    if path:
        report.extras["rollback_plan_file"] = path
        report.text_summary["rollback_plan_file"] = []  # in the plan's summary
    report.text_summary["rollback_plan"] = summary_lines(plan, path)


def _database_changed(ctx: Context) -> bool:
    """Did this deploy leave a migration applied, or data its unapplied migrations dropped or
    rewrote? Only then is there anything to go back from."""
    if not ctx.state.get("migrated"):
        return False
    if ctx.state.get("data_not_restored"):
        return True
    try:
        return current_state(ctx.options.alias) != ctx.release.migrations_before
    except Exception:  # the database went away: assume the worst, point at recovery
        return True


def _applied_count(ctx: Context) -> int:
    plan = ctx.state.get("rollback_plan") or {}
    return len(plan.get("steps") or [])


def _success_headline(ctx: Context, row: Release | None) -> str:
    applied = _applied_count(ctx) if ctx.state.get("migrated") else 0
    parts = [
        f"Deployed: release {row.pk} recorded" if row else "Deployed (no release row recorded)",
        f"{applied} migration(s) applied" if applied else "no migration to apply",
    ]
    if ctx.release.backup_name:
        parts.append(f"backup {ctx.release.backup_name}")
    return "; ".join(parts) + "."


def _add_failure(report: Report, ctx: Context, failed: str, changed: bool, marked: bool) -> None:
    backup = ctx.release.backup_name
    marked_text = "; release marked failed" if marked else ""
    if changed:
        report.headline = (
            f"Deploy failed at step {failed!r} after changing the database: see the way back below."
        )
        if ctx.state.get("data_not_restored"):  # the records went back, the data did not
            detail = (
                "Steps after the failing one did not run. The migrations of this deploy were "
                "unapplied, but data they dropped or rewrote is not back, so the database is "
                "not as it was before it."
            )
            fix = (
                f"Restore the pre-deploy backup: {restore_command(backup, force=True)}; then "
                "fix the causes listed below and deploy again (forced: "
                "the backup is at the database's migration state, and this code's migrations "
                "are pending)."
                if backup
                else "No pre-deploy backup was taken: restore the newest backup from before "
                "this deploy (python manage.py backup list), then fix the causes below."
            )
        else:
            detail = (
                "Steps after the failing one did not run. Migrations of this deploy are "
                "applied, so the database is not as it was before it."
            )
            fix = _recover_command(backup)
        report.add(
            "deploy.failed",
            Severity.CRITICAL,
            f"Deploy failed at step {failed!r} after migrating{marked_text}",
            detail=detail,
            fix=fix,
            rank=0,
        )
        return
    applied_nothing = not ctx.state.get("migrated")
    state = (
        "Nothing was applied" if applied_nothing else "No migration of this deploy is left applied"
    )
    report.headline = f"Deploy stopped at step {failed!r}: {state.lower()}; fix the causes below."
    report.add(
        "deploy.failed",
        Severity.CRITICAL,
        f"Deploy stopped at step {failed!r}; {state.lower()}{marked_text}",
        detail=f"{state}: the database is as it was before this deploy, so there is nothing "
        "to restore or recover. Steps after the failing one did not run."
        + (f" (The pre-deploy backup {backup} was taken.)" if backup else ""),
        fix="Fix the causes listed below (each says how) and deploy again.",
        rank=0,
    )


def _recover_command(backup_name: str) -> str:
    first = "Fix the causes listed below and deploy again. To go back to before this deploy"
    if backup_name:
        return (
            f"{first}: python manage.py emergency_rollback recover, or "
            f"{restore_command(backup_name, force=True)} (forced: the "
            "backup was taken before this deploy's migrations, which this code has)"
        )
    return (
        f"{first}, run the rollback plan's commands; "
        "python manage.py emergency_rollback assess shows the state."
    )


def history(alias: str, limit: int = 20) -> Report:
    report = Report("railway_deploy")
    releases = recent(alias, limit)
    report.extras["releases"] = releases
    if not releases:
        report.add(
            "deploy.history.empty",
            Severity.INFO,
            "No release recorded yet",
            fix="Set the pre-deploy command to: python manage.py railway_deploy",
        )
    return report
