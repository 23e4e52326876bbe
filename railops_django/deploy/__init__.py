"""railway_deploy: the pre-deploy pipeline and the release ledger."""

from __future__ import annotations

from ..models import Release
from ..report import Report, Severity
from .ledger import ReleaseRecord, recent
from .pipeline import Context, Options, execute
from .steps import STEPS

__all__ = ["Options", "history", "run"]


def run(options: Options) -> Report:
    ctx = Context(options=options, release=ReleaseRecord(alias=options.alias))
    report = execute(STEPS, ctx)
    if ctx.state.get("rollback_plan"):
        report.extras["rollback_plan"] = ctx.state["rollback_plan"]
    if options.dry_run:
        report.extras["release"] = None
        return report
    failed = ctx.state.get("failed_step", "")
    if failed:
        row = ctx.release.finish(Release.Status.FAILED, failed_step=failed)
        recover = _recover_command(ctx.release.backup_name)
        report.add(
            "deploy.failed",
            Severity.CRITICAL,
            f"Deploy failed at step {failed!r}; release marked failed",
            detail="Steps after the failing one did not run.",
            fix=recover,
            rank=0,
        )
    else:
        row = ctx.release.finish(Release.Status.SUCCEEDED)
    report.extras["release"] = (
        {"id": row.pk, "status": row.status, "backup": row.backup_name} if row else None
    )
    return report


def _recover_command(backup_name: str) -> str:
    if backup_name:
        return (
            "Fix the cause above and deploy again. To return to the state before this deploy: "
            f"python manage.py emergency_rollback recover, or python manage.py backup restore "
            f"{backup_name}"
        )
    return (
        "Fix the cause above and deploy again; "
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
