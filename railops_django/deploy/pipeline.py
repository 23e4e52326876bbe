"""railway_deploy: the seed's deployment script as a pipeline of timed steps.

1. prerequisites  2. backup  3. release record  4. migrate (dry run, then real)
5. static files   6. health

Each step returns findings; the first critical one stops the pipeline, warnings do not. Every
step knows what it *would* do, so ``--dry-run`` walks the same path and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import redact
from ..db import connection as dbconn
from ..report import ACTION, Finding, Report, Severity
from .ledger import ReleaseRecord


@dataclass
class Options:
    alias: str = "default"
    skip_migration: bool = False
    skip_collectstatic: bool = False
    no_backup: bool = False
    require_offsite_backup: bool = False
    dry_run: bool = False
    # Passed on to safe_migrate, as its own flags of the same names.
    allow_unsafe: tuple[str, ...] = ()
    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    retries: int | None = None


@dataclass
class Context:
    options: Options
    release: ReleaseRecord
    state: dict[str, Any] = field(default_factory=dict)


StepFn = Callable[[Context], list[Finding]]


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFn


def _outcome(findings: list[Finding]) -> str:
    worst = max((f.severity for f in findings), default=Severity.OK)
    return {Severity.CRITICAL: "failed", Severity.WARNING: "warning"}.get(worst, "ok")


def execute(steps: list[Step], ctx: Context, command: str = "railway_deploy") -> Report:
    report = Report(command, kind=ACTION)
    log: list[dict[str, Any]] = []
    failed = ""
    for step in steps:
        started = time.monotonic()
        try:
            findings = step.run(ctx)
        except Exception as exc:
            redact.logger.exception("deploy step %s crashed", step.name)
            lost = dbconn.connection_failure(exc, ctx.options.alias, f"deploy.{step.name}")
            findings = [
                lost
                or Finding(
                    f"deploy.{step.name}.crashed",
                    Severity.CRITICAL,
                    f"Step {step.name} crashed",
                    detail=redact.mask_exception(exc),
                    fix="Read the error; nothing after this step ran.",
                )
            ]
        outcome = _outcome(findings)
        entry = {
            "step": step.name,
            "outcome": outcome,
            "duration_s": round(time.monotonic() - started, 3),
            "detail": "; ".join(f.title for f in findings if f.severity >= Severity.WARNING)
            or (findings[-1].title if findings else ""),
        }
        log.append(entry)
        ctx.release.steps = log
        report.extend(findings)
        if outcome == "failed":
            failed = step.name
            break
    report.extras["steps"] = log
    report.extras["dry_run"] = ctx.options.dry_run
    ctx.state["failed_step"] = failed
    return report
