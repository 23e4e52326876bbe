"""The six steps of railway_deploy. Each takes the Context and returns findings."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from .. import platform, redact
from ..backup import BackupFailed, create
from ..backup import storage as backup_storage
from ..backup.archive import blockers as backup_blockers
from ..child_env import child_env
from ..db import connection as dbconn
from ..diagnose import static_probes
from ..diagnose.edge import replay
from ..diagnose.settings import HEALTHCHECK_HOST, healthcheck_path
from ..health import run as health_run
from ..migrate import current_state
from ..migrate import run as migrate_run
from ..report import Finding, Report, Severity
from .pipeline import Context, Options, Step

GIT_TIMEOUT_S = 10


def _ok(step: str, title: str, **data: object) -> Finding:
    return Finding(f"deploy.{step}", Severity.OK, title, data=dict(data))


def _git_dir() -> Path | None:
    start = Path(getattr(settings, "BASE_DIR", None) or os.getcwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def git_findings(ctx: Context) -> list[Finding]:
    """The code being deployed: a clean git tree, or Railway's commit sha."""
    railway = platform.railway()
    repo = _git_dir()
    if repo is None or shutil.which("git") is None:
        ctx.release.git_sha = railway.git_commit
        if railway.git_commit:
            return [
                _ok("git", f"Deploying commit {railway.git_commit[:12]} (RAILWAY_GIT_COMMIT_SHA)")
            ]
        return [
            Finding(
                "deploy.git.unknown",
                Severity.INFO,
                "The deployed commit is unknown",
                detail="No .git directory and no RAILWAY_GIT_COMMIT_SHA.",
                fix="Deploy from a git repository so Railway sets RAILWAY_GIT_COMMIT_SHA; the "
                "release ledger then records which code each release ran.",
            )
        ]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
            env=child_env(keep=[name for name in os.environ if name.startswith("GIT_")]),
        ).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain")
    except (subprocess.SubprocessError, OSError) as exc:
        ctx.release.git_sha = railway.git_commit
        return [
            Finding(
                "deploy.git.unreadable",
                Severity.INFO,
                "Could not read the git state",
                detail=redact.mask_exception(exc),
                fix="Make sure the repository has at least one commit.",
            )
        ]
    ctx.release.git_sha = railway.git_commit or sha
    if dirty:
        changed = len(dirty.splitlines())
        return [
            Finding(
                "deploy.git.uncommitted",
                Severity.WARNING,
                f"{changed} uncommitted change(s) in {repo}",
                detail="The release ledger records a commit that is not what is deployed.",
                fix="Commit (or stash) the changes before deploying.",
                data={"changed": changed},
            )
        ]
    return [_ok("git", f"Deploying commit {sha[:12]} (clean tree)")]


def prerequisites(ctx: Context) -> list[Finding]:
    findings = [*static_probes(), *git_findings(ctx)]
    result = dbconn.probe(ctx.options.alias)
    if not result.ok and result.error is not None:
        findings.append(dbconn.failure_finding(ctx.options.alias, result.error, "deploy"))
        return findings
    findings.append(_ok("database", f"Database reachable ({result.latency_ms} ms)"))
    railway = platform.railway()
    ctx.release.deployment_id = railway.deployment_id
    ctx.release.environment = railway.environment_name
    ctx.release.migrations_before = current_state(ctx.options.alias)
    return findings


def _only_local_storage() -> bool:
    return not backup_storage.offsite_places(backup_storage.configured())


def backup(ctx: Context) -> list[Finding]:
    options = ctx.options
    if options.no_backup:
        return [
            Finding(
                "deploy.backup.skipped",
                Severity.WARNING,
                "No backup before this deploy (--no-backup)",
                fix="Drop --no-backup: a failed migration then has a backup to return to.",
            )
        ]
    findings: list[Finding] = []
    if _only_local_storage():
        offsite = Finding(
            "deploy.backup.local_only",
            Severity.CRITICAL if options.require_offsite_backup else Severity.WARNING,
            "The pre-deploy backup goes only to this container's disk",
            detail="Railway's pre-deploy container has no volume, and its disk is discarded "
            "after the command: this backup will not survive the deploy.",
            fix=backup_storage.OFFSITE_FIX + ".",
            rank=5,
        )
        findings.append(offsite)
        if options.require_offsite_backup:
            return findings
    if options.dry_run:  # the checks create makes before dumping: a storage it cannot write
        blocking = backup_blockers(options.alias, "predeploy")
        findings.extend(blocking)
        if not blocking:
            findings.append(
                _ok("backup", f"Would back up database {options.alias!r} (tier predeploy)")
            )
        return findings
    try:
        result = create(options.alias, tier="predeploy")
    except BackupFailed as exc:
        findings.append(
            Finding(
                "deploy.backup.failed",
                Severity.CRITICAL,
                "The pre-deploy backup failed; nothing was changed",
                detail=redact.mask_exception(exc),
                fix="Fix the backup (python manage.py backup create) or deploy with --no-backup "
                "knowingly.",
            )
        )
        return findings
    ctx.release.backup_name = result.name
    findings.extend(f for f in result.findings if f.severity >= Severity.WARNING)
    findings.append(_ok("backup", f"Backup {result.name} written", backup=result.name))
    return findings


def release_record(ctx: Context) -> list[Finding]:
    if ctx.options.dry_run:
        return [_ok("release", "Would record a release in the ledger")]
    row = ctx.release.save()
    if row is None:
        return [
            _ok(
                "release",
                "The ledger table does not exist yet; the release is recorded after migrating",
            )
        ]
    return [_ok("release", f"Release {row.pk} recorded (started)", release=row.pk)]


def migrate(ctx: Context) -> list[Finding]:
    options = ctx.options
    if options.skip_migration:
        return [_ok("migrate", "Migrations skipped (--skip-migration)")]
    # The backup step already took the pre-deploy backup: safe_migrate names it, takes none.
    # One safe_migrate run: it plans, lints and pre-flights first, and stops before applying
    # anything when a finding blocks, so no separate rehearsal (a second plan) is needed.
    taken = ctx.release.backup_name or None
    result = _safe_migrate(options, taken, dry_run=options.dry_run)
    findings = _deploy_fix(_without_skipped_backup(result.findings))
    if options.dry_run:
        ctx.state["rollback_plan"] = result.extras.get("rollback_plan")
        return _dry_run_titles(findings)
    if any(f.id == "migrate.blocked" for f in findings):
        return findings  # stopped before applying anything
    ctx.state["migrated"] = True
    # Unapplied again after a failure, but with data its migrations dropped or rewrote.
    ctx.state["data_not_restored"] = any(
        f.id == "migrate.rollback.data_not_restored" for f in findings
    )
    ctx.state["rollback_plan"] = result.extras.get("rollback_plan")
    ctx.state["rollback_plan_file"] = result.extras.get("rollback_plan_file")
    if ctx.release.row is None and result.status is not Severity.CRITICAL:
        ctx.release.save()
    return findings


def _safe_migrate(options: Options, taken: str | None, *, dry_run: bool) -> Report:
    """safe_migrate with the flags railway_deploy passes on."""
    return migrate_run(
        options.alias,
        dry_run=dry_run,
        backup=False,
        taken_backup=taken,
        allow_unsafe=options.allow_unsafe,
        lock_timeout_ms=options.lock_timeout_ms,
        statement_timeout_ms=options.statement_timeout_ms,
        retries=options.retries,
    )


def _deploy_fix(findings: list[Finding]) -> list[Finding]:
    """safe_migrate's 'blocked' finding, with the railway_deploy command that accepts the rules.

    Only lint rules can be accepted; a pre-flight block (NULLs, duplicates) needs the data fixed.
    """
    rules = sorted(
        {
            str(f.data["rule"])
            for f in findings
            if f.id.startswith("migrate.lint.")
            and f.severity is Severity.CRITICAL
            and f.data.get("rule")
        }
    )
    if not rules:
        return findings
    fix = (
        "Fix the migrations as each finding says, or accept the rules for this deploy: "
        f"python manage.py railway_deploy --allow-unsafe {','.join(rules)} "
        "(or railops_allow_unsafe = [...] on the Migration)."
    )
    return [replace(f, fix=fix) if f.id == "migrate.blocked" else f for f in findings]


def _without_skipped_backup(findings: list[Finding]) -> list[Finding]:
    """safe_migrate's 'no backup' warning: the backup step already reported on the backup."""
    return [f for f in findings if f.id != "migrate.backup.skipped"]


def _dry_run_titles(findings: list[Finding]) -> list[Finding]:
    return [
        Finding(f.id, f.severity, f"dry run: {f.title}", f.detail, f.fix, f.rank, f.data)
        for f in findings
    ]


def collectstatic(ctx: Context) -> list[Finding]:
    if ctx.options.skip_collectstatic:
        return [_ok("static", "collectstatic skipped (--skip-collectstatic)")]
    if not getattr(settings, "STATIC_ROOT", None):
        return [_ok("static", "STATIC_ROOT is not set; nothing to collect")]
    if ctx.options.dry_run:
        return [_ok("static", f"Would run collectstatic --noinput into {settings.STATIC_ROOT}")]
    out = io.StringIO()
    try:
        call_command("collectstatic", interactive=False, verbosity=1, stdout=out, stderr=out)
    except Exception as exc:
        return [
            Finding(
                "deploy.static.failed",
                Severity.CRITICAL,
                "collectstatic failed",
                detail=redact.mask_exception(exc),
                fix="Run python manage.py collectstatic --noinput and fix the file it names.",
            )
        ]
    summary = out.getvalue().strip().splitlines()
    return [_ok("static", summary[-1] if summary else "Static files collected")]


def health(ctx: Context) -> list[Finding]:
    alias = ctx.options.alias
    report = health_run(alias)
    findings = [f for f in report.findings if f.severity >= Severity.WARNING]
    path = healthcheck_path()
    if ctx.options.dry_run:  # the replay judges the deployed state, which a dry run never makes
        target = f"GET {path} as Railway's healthcheck" if path else "GET /"
        findings.append(_ok("health", f"Would replay {target} once migrated"))
        return findings
    if path:
        findings.append(replay(path, HEALTHCHECK_HOST, alias=alias, healthcheck=True))
    else:
        findings.append(replay("/", alias=alias))
    if not any(f.severity >= Severity.WARNING for f in findings):
        findings.append(_ok("health", "Database healthy"))
    return findings


STEPS = [
    Step("prerequisites", prerequisites),
    Step("backup", backup),
    Step("release", release_record),
    Step("migrate", migrate),
    Step("static", collectstatic),
    Step("health", health),
]
