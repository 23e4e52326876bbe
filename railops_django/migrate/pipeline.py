"""safe_migrate's pipeline: connect, replica lock, plan, lint, pre-flight, backup, rollback plan,
apply, and post-check. Every step adds findings to one Report."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db.migrations.executor import MigrationExecutor

from .. import conf, db, redact
from ..backup import create
from ..backup.archive import blockers as backup_blockers
from ..backup.restore import command as restore_command
from ..db import connection as dbconn
from ..db import locks, preflight
from ..db.schema import drift
from ..redact import logger
from ..report import ACTION, CannotRun, Finding, Report, Severity
from . import lint as linting
from . import rollback, runner
from .plan import Step, by_app, current_state, executor, pending_migrations
from .rules import resolve

COMMAND = "safe_migrate"


def _option(value: int | None, key: str, flag: str) -> int:
    chosen = conf.get(key) if value is None else value
    if not isinstance(chosen, int) or chosen < 0:
        raise CannotRun(f"{flag} must be a whole number >= 0, got {chosen!r}")
    return chosen


def run(
    alias: str = "default",
    app_label: str | None = None,
    migration_name: str | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    backup: bool = True,
    schema_only_backup: bool = False,
    taken_backup: str | None = None,
    allow_unsafe: Iterable[str] = (),
    lock_timeout_ms: int | None = None,
    statement_timeout_ms: int | None = None,
    retries: int | None = None,
    interactive: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Apply the pending migrations of ``alias`` safely; see the README's safe_migrate section.

    ``report.extras`` holds ``plan``, ``lint``, ``preflight``, ``rollback_plan`` and
    ``timings``. Raises CannotRun for bad input (unknown app, conflicting leaves, bad option).
    ``progress`` receives one-line progress messages (the command passes stderr on a TTY).
    ``taken_backup`` names a backup the caller took just before (railway_deploy): it is used
    in the rollback plan instead of taking another one.
    """
    report = Report(COMMAND, kind=ACTION)
    allow = resolve(list(allow_unsafe))
    settings = {
        "lock_timeout_ms": _option(lock_timeout_ms, "LOCK_TIMEOUT_MS", "--lock-timeout"),
        "statement_timeout_ms": _option(
            statement_timeout_ms, "STATEMENT_TIMEOUT_MS", "--statement-timeout"
        ),
        "retries": _option(retries, "MIGRATION_RETRIES", "--retries"),
    }
    vendor = db.vendor(alias)
    probe = dbconn.probe(alias)
    if not probe.ok:
        assert probe.error is not None
        report.findings.append(dbconn.failure_finding(alias, probe.error, "migrate"))
        return report
    report.add(
        "migrate.connect",
        Severity.OK,
        f"Connected to {alias!r} ({vendor}) in {probe.latency_ms} ms",
        rank=90,
    )
    steps = pending_migrations(executor(alias), app_label, migration_name)
    if not steps and not force:
        report.add(
            "migrate.nothing_pending",
            Severity.OK,
            "No migrations to apply",
            detail="Every migration of the target is applied.",
            fix="python manage.py safe_migrate --force runs the backup, post_migrate handlers and "
            "drift check anyway.",
            rank=80,
        )
        report.extras["plan"] = {"steps": [], "by_app": {}}
        return report
    try:
        waiting: list[float] = []

        def on_wait(waited: float) -> None:
            if progress and (not waiting or waited - waiting[-1] >= 5):
                waiting.append(waited)
                progress(f"waiting for the migration lock held by another process ({waited:.0f}s)")

        with locks.migration_lock(alias, on_wait=on_wait) as held:
            report.extras["lock"] = held.as_dict()
            ex = executor(alias)
            locked_steps = pending_migrations(ex, app_label, migration_name)
            if steps and not locked_steps and not force:
                report.add(
                    "migrate.already_migrated",
                    Severity.OK,
                    "Already migrated by another process",
                    detail=f"Waited {held.waited_s:.1f}s for the migration lock; another "
                    "replica applied the plan meanwhile.",
                    rank=80,
                )
                report.extras["plan"] = {"steps": [], "by_app": {}}
                return report
            _locked_pipeline(
                report,
                alias,
                vendor,
                ex,
                locked_steps,
                target=(app_label, migration_name),
                dry_run=dry_run,
                force=force,
                backup=backup,
                schema_only_backup=schema_only_backup,
                taken_backup=taken_backup,
                allow=allow,
                interactive=interactive,
                progress=progress,
                **settings,
            )
    except locks.LockConnectionError as exc:
        cause = exc.__cause__ or exc
        finding = dbconn.failure_finding(alias, cause, "migrate.lock")
        report.findings.append(
            Finding(
                finding.id,
                finding.severity,
                f"Cannot take the migration lock: {exc}",
                finding.detail,
                finding.fix,
                finding.rank,
                finding.data,
            )
        )
    except locks.LockTimeout as exc:
        report.add(
            "migrate.lock.timeout",
            Severity.CRITICAL,
            "Another process kept the migration lock",
            detail=str(exc),
            fix="Check which deploy is still migrating (Railway: the pre-deploy logs), or raise "
            "RAILOPS_MIGRATION_LOCK_WAIT (seconds).",
            rank=0,
        )
    return report


def _locked_pipeline(
    report: Report,
    alias: str,
    vendor: str,
    ex: MigrationExecutor,
    steps: list[Step],
    *,
    target: tuple[str | None, str | None],
    dry_run: bool,
    force: bool,
    backup: bool,
    schema_only_backup: bool,
    taken_backup: str | None,
    allow: set[str],
    interactive: bool,
    progress: Callable[[str], None] | None,
    lock_timeout_ms: int,
    statement_timeout_ms: int,
    retries: int,
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    before = current_state(alias, ex)
    report.extras["plan"] = {"steps": [s.as_dict() for s in steps], "by_app": by_app(steps)}
    report.extras["settings"] = {
        "lock_timeout_ms": lock_timeout_ms,
        "statement_timeout_ms": statement_timeout_ms,
        "retries": retries,
    }

    result = linting.lint(alias, steps, ex, vendor, allow)
    timings["lint_s"] = time.monotonic() - started

    mark = time.monotonic()
    measured = sorted(
        {
            result.live_name(t.strip())
            for h in result.hits
            if h.table
            for t in h.table.split(",")
            if t.strip()
        }
        | {t.table for t in result.touches}
    )
    sizes = preflight.table_sizes(
        alias, measured, count_limit=int(conf.get("MIGRATION_LOCK_RISK_ROWS")) + 1
    )
    facts = preflight.preflight(
        alias, [(t.table, t.kind, t.columns, t.after_fix) for t in result.touches], sizes
    )
    preflight_findings = _preflight_findings(facts)
    linting.judge(result, sizes)
    timings["preflight_s"] = time.monotonic() - mark
    report.extend(result.findings())
    report.extend(preflight_findings)
    report.extras["lint"] = [h.as_dict() for h in result.hits]
    if result.skipped_rules:
        report.extras["lint_skipped_rules"] = {vendor: result.skipped_rules}
    report.extras["preflight"] = _preflight_extras(facts)

    plan = rollback.build(before, steps, result.reverse_sql)
    report.extras["rollback_plan"] = plan

    blockers = [h.rule.id for h in result.blocking()] + [
        f.id for f in preflight_findings if f.severity is Severity.CRITICAL
    ]
    verb = "would stop" if dry_run else "stopped"
    if blockers:
        report.add(
            "migrate.blocked",
            Severity.CRITICAL,
            f"safe_migrate {verb} before applying anything: {len(blockers)} blocking finding(s)",
            detail="Blocking: " + ", ".join(sorted(set(blockers))) + ". Nothing was applied.",
            fix="Fix the migrations as each finding says, or accept a rule with "
            "--allow-unsafe RULE[,RULE] (or railops_allow_unsafe on the Migration).",
            rank=1,
        )
        _finish(report, timings, started)
        return

    if dry_run:
        if schema_only_backup:  # asked for explicitly: a schema-only copy is cheap and harmless
            plan["backup"] = _backup(report, alias, True, True)
        elif backup and not taken_backup:
            _check_backup(alias)
        report.extras["sql"] = result.sql
        keys = [s.key for s in steps]
        names = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        verb = "unapply" if steps and steps[0].backwards else "apply"  # a plan has one direction
        report.add(
            "migrate.dry_run",
            Severity.INFO,
            f"Would {verb} {len(steps)} migration(s): {names or 'nothing'}",
            detail="\n".join(
                [
                    f"Would use the backup {taken_backup} taken just before."
                    if taken_backup
                    else "Would take a "
                    + ("schema-only " if schema_only_backup else "")
                    + "predeploy backup first."
                    if backup
                    else "Would skip the backup (--no-backup).",
                    f"Would {verb} them one at a time with lock_timeout {lock_timeout_ms} ms and "
                    f"up to {retries} retries; the rollback plan above is the way back.",
                    "Dry run: the lock was taken and released; nothing was applied"
                    + (" (a schema-only backup was asked for)." if schema_only_backup else "."),
                ]
            ),
            fix="Run without --dry-run to apply.",
            rank=80,
        )
        _finish(report, timings, started)
        return

    destructive = [h for h in result.hits if h.allowed_by and h.rule.id.startswith("drop_")]
    if (
        interactive
        and destructive
        and not _confirm(
            "This plan drops "
            + ", ".join(
                sorted({".".join(p for p in (h.table, h.column) if p) for h in destructive})
            )
            + ". Continue?"
        )
    ):
        raise CannotRun(
            "cancelled at the prompt, nothing was applied: run again and answer y, "
            "or pass --noinput"
        )

    mark = time.monotonic()
    backup_name = taken_backup or _backup(report, alias, backup, schema_only_backup)
    timings["backup_s"] = time.monotonic() - mark
    plan["backup"] = backup_name
    try:
        path = rollback.write(plan, alias)
        report.extras["rollback_plan_file"] = str(path)
    except OSError as exc:
        report.add(
            "migrate.rollback_plan.unwritten",
            Severity.WARNING,
            "Could not store the rollback plan",
            detail=redact.mask_exception(exc),
            fix="Set RAILOPS_BACKUP_DIR to a writable directory (on Railway, a volume).",
        )

    mark = time.monotonic()
    if steps:
        runner.pre_migrate(alias, steps)
    applied = runner.apply(
        alias, steps, lock_timeout_ms, statement_timeout_ms, retries, progress=progress
    )
    timings["apply_s"] = time.monotonic() - mark
    report.extras["timings"] = [r.as_dict() for r in applied.results]
    _report_waits(report, applied)

    if applied.failed is not None:
        _on_failure(report, alias, before, applied, plan, backup_name, lock_timeout_ms, retries)
        _finish(report, timings, started)
        return

    runner.post_migrate(alias, steps, applied.state)
    mark = time.monotonic()
    _post_check(report, alias, steps, target)
    timings["post_check_s"] = time.monotonic() - mark
    total_wait = sum(w["slept_s"] for r in applied.results for w in r.waits)
    report.add(
        "migrate.applied",
        Severity.OK,
        f"Applied {len(steps)} migration(s)"
        + (f" across {len(by_app(steps))} app(s)" if steps else " (forced run)")
        + f" in {timings['apply_s']:.2f}s",
        detail=f"Waited {total_wait:.2f}s on locks in total." if total_wait else "",
        rank=80,
    )
    _finish(report, timings, started)


def _confirm(question: str) -> bool:
    """Ask on the terminal. Without one (a Railway pre-deploy command run without --noinput)
    nobody can answer, so nothing destructive goes ahead unasked: exit 3, use --noinput."""
    if not sys.stdin.isatty():
        raise CannotRun(
            "the plan drops data and there is no terminal to confirm on: nothing was applied; "
            "use --noinput to apply it unattended (railway_deploy does)"
        )
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _finish(report: Report, timings: dict[str, float], started: float) -> None:
    timings["total_s"] = time.monotonic() - started
    report.extras["phase_timings"] = {k: round(v, 3) for k, v in timings.items()}
    plan = report.extras.get("rollback_plan")
    if plan:  # text shows the plan's counts and its file; JSON keeps it whole
        path = report.extras.get("rollback_plan_file")
        report.text_summary["rollback_plan"] = rollback.summary_lines(plan, path)


# --- pre-flight ----------------------------------------------------------------------------


def _preflight_findings(facts: dict[str, Any] | None) -> list[Finding]:
    if not facts:
        return []
    out: list[Finding] = []
    for table, column, fixed_by in facts["nulls"]:
        if fixed_by:
            out.append(
                Finding(
                    "migrate.preflight.nulls",
                    Severity.INFO,
                    f"{table}.{column} has NULLs now; the migration fixes them before SET NOT NULL",
                    detail=f"'{fixed_by}' runs earlier in the same migration, so SET NOT NULL "
                    "should find none. If it does not fill every row, the migration fails and "
                    "rolls back.",
                    fix="Nothing to do if the data step covers every NULL row.",
                    rank=50,
                    data={"table": table, "column": column, "fixed_by": fixed_by},
                )
            )
            continue
        out.append(
            Finding(
                "migrate.preflight.nulls",
                Severity.CRITICAL,
                f"{table}.{column} has NULLs: SET NOT NULL would fail",
                detail="At least one row holds NULL in the column this plan makes NOT NULL.",
                fix=f"Backfill first: UPDATE {table} SET {column} = ... WHERE {column} IS NULL "
                "(in batches), in an earlier migration.",
                rank=5,
                data={"table": table, "column": column},
            )
        )
    for table, columns, fixed_by in facts["duplicates"]:
        cols = ", ".join(columns)
        if fixed_by:
            out.append(
                Finding(
                    "migrate.preflight.duplicates",
                    Severity.INFO,
                    f"{table}({cols}) has duplicates now; the migration deals with them first",
                    detail=f"'{fixed_by}' runs earlier in the same migration, before UNIQUE.",
                    fix="Nothing to do if the data step removes every duplicate.",
                    rank=50,
                    data={"table": table, "columns": list(columns), "fixed_by": fixed_by},
                )
            )
            continue
        out.append(
            Finding(
                "migrate.preflight.duplicates",
                Severity.CRITICAL,
                f"{table}({cols}) has duplicates: UNIQUE would fail",
                detail="At least two rows share the values this plan makes unique.",
                fix=f"Find them with SELECT {cols}, count(*) FROM {table} GROUP BY {cols} "
                "HAVING count(*) > 1; deduplicate before the migration.",
                rank=5,
                data={"table": table, "columns": list(columns)},
            )
        )
    for holder in facts["lock_holders"]:
        out.append(
            Finding(
                "migrate.preflight.lock_holder",
                Severity.WARNING,
                f"pid {holder['pid']} holds {holder['mode']} on {holder['table']}",
                detail=f"state {holder['state']}, transaction open for "
                f"{holder['xact_age_s']}s: {holder['query']}. DDL on this table waits for it; "
                "safe_migrate gives up after lock_timeout and retries.",
                fix="If it is stuck: SELECT pg_terminate_backend("
                f"{holder['pid']}); run db_health to see long transactions.",
                rank=15,
                data=holder,
            )
        )
    for index in facts["invalid_indexes"]:
        out.append(
            Finding(
                "migrate.preflight.invalid_index",
                Severity.WARNING,
                f"INVALID index {index['index']} on {index['table']}",
                detail="A failed CREATE INDEX CONCURRENTLY left it behind: it costs writes and "
                "serves no reads, and a migration creating the same name fails.",
                fix=f"DROP INDEX CONCURRENTLY {index['index']}; then let the migration "
                "recreate it.",
                rank=25,
                data=index,
            )
        )
    return out


def _preflight_extras(facts: dict[str, Any] | None) -> dict[str, Any]:
    if facts is None:
        return {"ran": False}
    return {
        "ran": True,
        "tables": [{"table": t, **size} for t, size in sorted(facts["tables"].items())],
        "lock_holders": facts["lock_holders"],
        "invalid_indexes": facts["invalid_indexes"],
        "nulls": [{"table": t, "column": c, "fixed_by": f} for t, c, f in facts["nulls"]],
        "duplicates": [
            {"table": t, "columns": list(c), "fixed_by": f} for t, c, f in facts["duplicates"]
        ],
        "skipped": facts["skipped"],
    }


# --- integration points (kept in one place each) -------------------------------------------


def _check_backup(alias: str) -> None:
    """A dry run makes the checks the backup makes before dumping, and stops as the real run
    would (exit 3) when one fails: a storage that cannot be written."""
    failing = backup_blockers(alias, "predeploy")
    if failing:
        raise CannotRun(
            f"the pre-migration backup would fail ({failing[0].title}: {failing[0].detail}): fix "
            "it and retry, or run with --no-backup to migrate without one"
        )


def _backup(report: Report, alias: str, wanted: bool, schema_only: bool) -> str | None:
    """The pre-migration backup through the backup module; None when skipped or unavailable."""
    if not wanted:
        report.add(
            "migrate.backup.skipped",
            Severity.WARNING,
            "No backup before migrating (--no-backup)",
            detail="If this migration loses data there is no pre-migration copy to restore.",
            fix="Drop --no-backup, or take one first: python manage.py backup create",
            rank=30,
        )
        return None
    try:
        made = create(alias, "predeploy", schema_only=schema_only)
    except CannotRun:
        raise
    except Exception as exc:
        raise CannotRun(
            f"the pre-migration backup failed ({redact.mask_exception(exc)}): fix it and retry, "
            "or run with --no-backup to migrate without one"
        ) from None
    name = str(getattr(made, "name", made))
    report.add(
        "migrate.backup.created",
        Severity.OK,
        f"Pre-migration backup {name}" + (" (schema only)" if schema_only else ""),
        rank=85,
    )
    return name


def _drift(alias: str, app_labels: list[str]) -> list[Finding]:
    """Schema drift on the touched apps."""
    return list(drift(alias, app_labels=app_labels))


# --- apply, failure, post-check ------------------------------------------------------------


def _report_waits(report: Report, applied: runner.ApplyResult) -> None:
    waits = [(r, w) for r in applied.results for w in r.waits]
    if not waits:
        return
    lines = [
        f"{r.step.key}: attempt {w['attempt']} hit lock_timeout, waited {w['slept_s']:.2f}s"
        for r, w in waits
    ]
    report.add(
        "migrate.apply.lock_waits",
        Severity.INFO,
        f"Waited {len(waits)} time(s) for locks held by other sessions",
        detail="\n".join(lines),
        fix="Normal under load; if it repeats, find long transactions with db_health.",
        rank=60,
    )


def _on_failure(
    report: Report,
    alias: str,
    before: dict[str, str],
    applied: runner.ApplyResult,
    plan: dict[str, Any],
    backup_name: str | None,
    lock_timeout_ms: int,
    retries: int,
) -> None:
    failed = applied.failed
    assert failed is not None
    done = [r.step for r in applied.applied]
    gave_up = bool(failed.waits) and failed.attempts > retries
    timed_out = "statement timeout" in (failed.error or "").lower()
    report.add(
        "migrate.apply.failed",
        Severity.CRITICAL,
        f"{failed.step.key} failed" + (" (lock timeout, retries exhausted)" if gave_up else ""),
        detail=failed.error or "",
        fix=(
            f"A session kept its lock past {retries} retries of {lock_timeout_ms} ms: "
            "find it with db_health and end it, or retry in a quieter moment."
        )
        if gave_up
        else (
            "A statement ran past --statement-timeout: raise it for this migration, or make "
            "the step cheaper (batches, CONCURRENTLY)."
        )
        if timed_out
        else "Read the error; fix the migration and deploy again.",
        rank=0,
        migration=failed.step.key,
    )
    # A migration that is not atomic keeps what it did before failing, one operation too
    # (the rows a RunPython updated, the table of a CreateModel, an INVALID index).
    partial = not failed.step.migration.atomic
    if partial:
        report.add(
            "migrate.apply.partial",
            Severity.WARNING,
            f"{failed.step.key} is not atomic: what it did before failing may be kept",
            detail="Operations: "
            + "; ".join(op.describe() for op in failed.step.migration.operations)
            + ". A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind.",
            fix="Compare the schema with the migration (sqlmigrate "
            f"{failed.step.app_label} {failed.step.name}) and undo or finish those steps by hand; "
            "keep one operation per non-atomic migration.",
            rank=2,
        )
    reversible = all(not rollback.irreversible_operations(s) for s in done)
    touched = {s.app_label for s in [*done, failed.step]}
    if done and reversible:
        back = runner.rollback_steps(alias, before, done)
        undone = runner.apply(alias, back, lock_timeout_ms, 0, retries)
        report.extras["rollback_timings"] = [r.as_dict() for r in undone.results]
        for r in undone.results:
            if r.status == "applied":
                r.status = "rolled_back"
        if undone.failed is None:
            for r in applied.results:
                if r.status == "applied":
                    r.status = "rolled_back"
            report.extras["timings"] = [r.as_dict() for r in applied.results]
    after = current_state(alias)
    report.extras["state_after"] = {app: after.get(app) for app in sorted(touched)}
    at_start = all(after.get(app) == before.get(app) for app in touched)
    kept = [f"{s.key}: {'; '.join(c)}" for s in done if (c := rollback.kept_changes(s))]
    operations = failed.step.migration.operations
    if partial and len(operations) > 1 and rollback.changes_data(failed.step):
        # One failed operation alone (a CREATE INDEX CONCURRENTLY under lock_timeout) leaves
        # at most an INVALID index: the warning above; restoring a backup would lose writes.
        kept.append(f"{failed.step.key}: not atomic, what it did before failing is kept")
    if at_start and kept:
        # The migration records are back, the data is not: only the backup has it.
        report.add(
            "migrate.rollback.data_not_restored",
            Severity.CRITICAL,
            "The migrations are back at their pre-run state, but the data is not",
            detail="State: "
            + ", ".join(f"{a} {before.get(a)}" for a in sorted(touched))
            + ". Not given back by unapplying: "
            + "; ".join(kept)
            + f". Backup to restore: {backup_name or 'none taken'}.",
            fix="Restore the backup taken before this run: "
            f"{restore_command(backup_name, force=True)} (forced: it is at the database's "
            "migration state, and this code's migrations are pending), then fix the migration "
            "and run again"
            if backup_name
            else "No backup was taken by this run: restore the newest one from before it "
            "(python manage.py backup list), or repair the data by hand.",
            rank=1,
        )
        return
    if at_start:
        report.add(
            "migrate.rollback.done" if done else "migrate.rollback.not_needed",
            Severity.INFO,
            "The database is back at its pre-run state"
            + (f" ({len(done)} migration(s) of this run unapplied)" if done else ""),
            detail="State: " + ", ".join(f"{a} {before.get(a)}" for a in sorted(touched)),
            fix="Nothing to restore.",
            rank=2,
        )
        return
    commands = "; ".join(plan["commands"])
    report.add(
        "migrate.rollback.manual",
        Severity.CRITICAL,
        "The database is NOT at its pre-run state: roll back by hand",
        detail="Now at: "
        + ", ".join(f"{a} {after.get(a)}" for a in sorted(touched))
        + ". Irreversible in this run: "
        + (", ".join(s.key for s in done if rollback.irreversible_operations(s)) or "none")
        + f". Backup to restore: {backup_name or 'none taken'}.",
        fix=f"Run: {commands}"
        + (
            f"; or restore the backup: {restore_command(backup_name, force=True)} (forced: it "
            "was taken before this run's migrations, which this code has)"
            if backup_name
            else ""
        ),
        rank=1,
    )


def _post_check(
    report: Report, alias: str, steps: list[Step], target: tuple[str | None, str | None]
) -> None:
    left = [s.key for s in pending_migrations(executor(alias), *target)]
    if left:
        report.add(
            "migrate.postcheck.pending",
            Severity.CRITICAL,
            f"{len(left)} migration(s) of the plan are still pending",
            detail=", ".join(left),
            fix="Run python manage.py showmigrations and safe_migrate again.",
            rank=3,
        )
    apps = sorted({s.app_label for s in steps})
    found = _drift(alias, apps)
    report.extend(found)
    if not found:
        report.add(
            "migrate.postcheck.drift",
            Severity.OK,
            "No schema drift on " + (", ".join(apps) or "the database"),
            rank=85,
        )
    logger.debug("post-check done for %s", apps)
