"""Metrics and thresholds: a measured value becomes a Finding with its threshold and severity.

Vendor modules (``db/postgres/health.py``, ``db/sqlite/health.py``) and
``health/container.py`` return ``Measurement``s; this module grades them against
``conf.threshold(name)`` (read at call time, so ``RAILOPS["THRESHOLDS"]`` overrides apply) and
turns them into findings plus a flat metrics list that the OpenMetrics renderer can expose.
"""

from __future__ import annotations

from typing import Any

from .. import conf
from ..db.health import Measurement
from ..report import Finding, Severity

__all__ = ["Measurement", "evaluate", "grade", "show"]


def grade(value: float | None, name: str) -> tuple[Severity, tuple[float, float]]:
    """The severity of ``value`` against threshold ``name`` ([warning, critical])."""
    warn, crit = conf.threshold(name)
    if value is None:
        return Severity.OK, (warn, crit)
    if name in conf.LOWER_IS_WORSE:
        if value < crit:
            return Severity.CRITICAL, (warn, crit)
        if value < warn:
            return Severity.WARNING, (warn, crit)
        return Severity.OK, (warn, crit)
    if value >= crit:
        return Severity.CRITICAL, (warn, crit)
    if value >= warn:
        return Severity.WARNING, (warn, crit)
    return Severity.OK, (warn, crit)


def show(value: float | int | None, unit: str) -> str:
    """A value for a title: 12.5 %, 6.2 s, 3.1 GiB."""
    if value is None:
        return "n/a"
    if unit == "bytes":
        number = float(value)
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(number) < 1024 or suffix == "TiB":
                return f"{number:,.0f} {suffix}" if suffix == "B" else f"{number:,.1f} {suffix}"
            number /= 1024
    if isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}"
    return f"{text} {unit}".strip() if unit not in ("%",) else f"{text} %"


def evaluate(m: Measurement) -> tuple[Finding, dict[str, Any]]:
    """The finding for ``m`` and its row for ``extras["metrics"]``."""
    threshold: list[float] | None = None
    if m.threshold:
        severity, pair = grade(None if m.value is None else float(m.value), m.threshold)
        threshold = [pair[0], pair[1]]
        if m.value is None and m.severity is not None:
            severity = m.severity
    else:
        severity = m.severity if m.severity is not None else Severity.OK
    severity = min(max(severity, m.min_severity), m.max_severity)
    title = (
        m.title if m.value is None and not m.threshold else f"{m.title}: {show(m.value, m.unit)}"
    )
    if threshold is not None:
        cmp = "<" if m.threshold in conf.LOWER_IS_WORSE else "≥"
        title += (
            f" (warning {cmp} {show(threshold[0], m.unit)}, "
            f"critical {cmp} {show(threshold[1], m.unit)})"
        )
    data: dict[str, Any] = {"value": m.value, "threshold": threshold, "unit": m.unit}
    if m.threshold:
        data["threshold_name"] = m.threshold
    if m.labels:
        data["labels"] = dict(m.labels)
    data.update(m.data)
    finding = Finding(
        id=f"health.{m.id}",
        severity=severity,
        title=title,
        detail=m.detail,
        fix=m.fix,
        rank=m.rank,
        data=data,
    )
    row = {
        "name": m.metric_name,
        "value": m.value,
        "unit": m.unit,
        "warning": threshold[0] if threshold else None,
        "critical": threshold[1] if threshold else None,
        "severity": severity.label,
        "labels": dict(m.labels),
    }
    return finding, row
