"""Apply a plan one migration at a time, with lock_timeout, retries, and a way back on failure."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState

from .. import redact
from ..db import locks
from ..redact import logger
from .plan import ZERO, Step, applied_state, executor

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0


def backoff_s(attempt: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Exponential backoff with jitter: about base * 2**(attempt-1), +-50 %, capped."""
    raw: float = min(cap, base * 2 ** max(0, attempt - 1))
    return round(raw * (0.5 + random.random()), 3)  # noqa: S311 (jitter, not crypto)


@dataclass
class StepResult:
    step: Step
    status: str = "pending"  # applied | failed | rolled_back | skipped
    seconds: float = 0.0
    attempts: int = 0
    waits: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.step.app_label,
            "migration": self.step.name,
            "direction": "backwards" if self.step.backwards else "forwards",
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
            "waited_s": round(sum(w["slept_s"] for w in self.waits), 3),
            "waits": self.waits,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class ApplyResult:
    results: list[StepResult] = field(default_factory=list)
    failed: StepResult | None = None
    state: ProjectState | None = None

    @property
    def applied(self) -> list[StepResult]:
        return [r for r in self.results if r.status == "applied"]


def _run_one(
    alias: str,
    step: Step,
    ex: MigrationExecutor,
    state: ProjectState | None,
) -> ProjectState:
    plan = [(step.migration, step.backwards)]
    return ex.migrate(None, plan=plan, state=None if step.backwards else state)  # type: ignore[arg-type,unused-ignore]


def apply(
    alias: str,
    steps: list[Step],
    lock_timeout_ms: int,
    statement_timeout_ms: int,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Apply ``steps`` in order; on lock timeout retry with backoff; stop at the first failure."""
    result = ApplyResult()
    ex = executor(alias)
    ex.recorder.ensure_schema()
    state: ProjectState | None = None
    for step in steps:
        outcome = StepResult(step)
        result.results.append(outcome)
        started = time.monotonic()
        while True:
            outcome.attempts += 1
            try:
                if step.backwards:
                    ex = executor(alias)  # unapplying reads the applied set: keep it fresh
                elif state is None:
                    state = applied_state(ex)
                with locks.session_timeouts(alias, lock_timeout_ms, statement_timeout_ms):
                    state = _run_one(alias, step, ex, state)
                outcome.status = "applied"
                break
            except Exception as exc:
                # The failed attempt may have mutated the in-memory state: rebuild it.
                ex, state = executor(alias), None
                message = redact.mask_exception(exc)
                if locks.is_lock_timeout(exc) and outcome.attempts <= retries:
                    pause = backoff_s(outcome.attempts)
                    outcome.waits.append(
                        {
                            "attempt": outcome.attempts,
                            "reason": "lock_timeout",
                            "slept_s": pause,
                            "error": message.splitlines()[0] if message else "",
                        }
                    )
                    logger.info("%s: lock timeout, retry in %.2fs", step.key, pause)
                    if progress:
                        progress(f"{step.key}: lock timeout, retry in {pause:.1f}s")
                    sleep(pause)
                    continue
                outcome.status = "failed"
                outcome.error = message
                break
        outcome.seconds = time.monotonic() - started
        if progress:
            progress(f"{step.key}: {outcome.status} in {outcome.seconds:.2f}s")
        if outcome.status == "failed":
            result.failed = outcome
            break
    result.state = state
    return result


def pre_migrate(alias: str, steps: list[Step]) -> None:
    ex = executor(alias)
    state = applied_state(ex)
    emit_pre_migrate_signal(
        0, False, alias, apps=state.apps, plan=[(s.migration, s.backwards) for s in steps]
    )


def post_migrate(alias: str, steps: list[Step], state: ProjectState | None = None) -> None:
    """What ``migrate`` does last: content types, permissions and other post_migrate handlers."""
    if state is None:
        state = applied_state(executor(alias))
    state.clear_delayed_apps_cache()
    emit_post_migrate_signal(
        0, False, alias, apps=state.apps, plan=[(s.migration, s.backwards) for s in steps]
    )


def rollback_steps(alias: str, before: dict[str, str], applied: list[Step]) -> list[Step]:
    """The backwards plan that returns every app this run touched to its leaf before the run."""
    apps: list[str] = []
    for step in applied:
        if step.app_label not in apps:
            apps.append(step.app_label)
    ex = executor(alias)
    nodes = [(app, None if before.get(app, ZERO) == ZERO else before[app]) for app in apps]
    return [Step(m, backwards) for m, backwards in ex.migration_plan(nodes) if backwards]
