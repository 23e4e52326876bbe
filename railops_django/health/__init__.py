"""db_health: is the database healthy right now, and is this container? Measured against thresholds.

Public API:

- ``run(alias="default") -> Report``: one measurement. Metric findings carry
  ``data={"value": ..., "threshold": [warning, critical] or None, "unit": ...}``;
  ``report.extras["metrics"]`` is a flat list of ``{"name", "value", "unit", "warning",
  "critical", "severity", "labels"}`` (what the OpenMetrics renderer exposes).
- ``watch(alias, interval, emit, max_iterations=None, alert=False) -> Report``.
- ``alerts.post(report) -> Finding``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connections

from .. import conf
from ..db import health as db_health
from ..redact import logger
from ..report import CannotRun, Finding, Report, Severity
from . import alerts, container
from .metrics import evaluate
from .watch import watch as _watch

COMMAND = "db_health"
_LOG_LEVELS = {Severity.CRITICAL: 50, Severity.WARNING: 30, Severity.INFO: 20, Severity.OK: 10}


class _QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def run(alias: str = "default", *, include_container: bool = True) -> Report:
    """Measure database ``alias`` and this container; one Report."""
    report = Report(COMMAND)
    counter = _QueryCounter()
    started = time.perf_counter()
    with connections[alias].execute_wrapper(counter):
        sample = db_health.collect(alias)
    db_seconds = round(time.perf_counter() - started, 3)
    measurements = list(sample.measurements)
    if include_container:
        measurements += container.measure(sample.paths)
    metrics: list[dict[str, Any]] = []
    for m in measurements:
        finding, row = evaluate(m)
        report.findings.append(finding)
        if isinstance(m.value, int | float) and not isinstance(m.value, bool):
            metrics.append(row)
    report.extend(sample.notes)
    report.extras.update(sample.tables)
    report.extras["metrics"] = metrics
    report.extras["cost"] = {
        "queries": counter.count,
        "database_seconds": db_seconds,
        "statement_timeout_ms": db_health.STATEMENT_TIMEOUT_MS,
    }
    _log(report)
    return report.finish()


def record(report: Report, alias: str) -> None:
    """Keep ``report``'s sample in the health history (``db_health --record``); its finding is
    added to the report. A database without the history table is a missing prerequisite."""
    from django.db import DatabaseError

    from . import history

    try:
        report.findings.append(history.record(report, alias))
    except DatabaseError as exc:
        raise CannotRun(
            f"the health history cannot be written ({type(exc).__name__}): run 'python "
            "manage.py migrate railops_django' to create its table"
        ) from None


def _log(report: Report) -> None:
    """Every finding goes to the railops logger (masked by its filter); problems at WARNING+."""
    for f in report.sorted_findings():
        logger.log(_LOG_LEVELS[f.severity], "db_health %s %s: %s", f.severity.label, f.id, f.title)


def run_with_alert(alias: str = "default", sent: dict[str, Any] | None = None) -> Report:
    """``run`` then post the alertable findings; skips a repeat of the last alert in ``sent``."""
    report = run(alias)
    threshold = Severity.parse(conf.get("ALERT_MIN_SEVERITY"))
    key = sorted((f.id, f.severity.label) for f in alerts.alertable(report, threshold))
    if sent is not None and sent.get("key") == key:
        report.findings.append(
            Finding(
                "health.alert.unchanged",
                Severity.OK,
                "Alert: same findings as the last alert, not sent again",
                rank=99,
            )
        )
        return report
    outcome = alerts.post(report, min_severity=threshold)
    report.findings.append(outcome)
    if sent is not None and outcome.id != "health.alert.failed":
        sent["key"] = key
    return report


def watch(
    alias: str,
    interval: float,
    emit: Callable[[Report], None],
    max_iterations: int | None = None,
    alert: bool = False,
) -> Report:
    """``--watch``: repeat ``run`` every ``interval`` seconds; alerts only when they change."""
    sent: dict[str, Any] = {}

    def build() -> Report:
        return run_with_alert(alias, sent) if alert else run(alias)

    return _watch(build, interval, emit, max_iterations=max_iterations)


__all__ = ["alerts", "run", "run_with_alert", "watch"]
