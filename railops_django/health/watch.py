"""``--watch N``: measure every N seconds, show what changed, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from ..report import Report, Severity

RELATIVE_CHANGE = 0.05  # metric values that move less than 5 % are not "changes"


def changes(previous: Report | None, current: Report) -> list[dict[str, Any]]:
    """Findings that appeared, cleared or changed severity, and metrics that moved."""
    if previous is None:
        return []
    before = {f.id: f for f in previous.findings}
    after = {f.id: f for f in current.findings}
    out: list[dict[str, Any]] = []
    for fid, f in after.items():
        old = before.get(fid)
        if old is None:
            out.append({"id": fid, "change": "new", "was": "-", "now": f.severity.label})
        elif old.severity != f.severity:
            out.append(
                {
                    "id": fid,
                    "change": "severity",
                    "was": old.severity.label,
                    "now": f.severity.label,
                }
            )
        else:
            was, now = old.data.get("value"), f.data.get("value")
            if isinstance(was, int | float) and isinstance(now, int | float) and was != now:
                scale = max(abs(was), abs(now), 1e-9)
                if abs(now - was) / scale >= RELATIVE_CHANGE:
                    out.append({"id": fid, "change": "value", "was": was, "now": now})
    for fid, f in before.items():
        if fid not in after:
            out.append({"id": fid, "change": "cleared", "was": f.severity.label, "now": "-"})
    return out


class StopFlag:
    """Set by SIGINT/SIGTERM while watching; the previous handlers come back afterwards."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name = ""
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def watch(
    build: Callable[[], Report],
    interval: float,
    emit: Callable[[Report], None],
    max_iterations: int | None = None,
    stop: StopFlag | None = None,
) -> Report:
    """Emit a report every ``interval`` seconds until a signal (or ``max_iterations``).

    Returns a short closing report (its findings say why watching stopped and the last status).
    """
    flag = stop or StopFlag()
    previous: Report | None = None
    iterations = 0
    with flag:
        while True:
            report = build()
            iterations += 1
            report.extras["changes"] = changes(previous, report)
            report.extras["watch"] = {"iteration": iterations, "interval_s": interval}
            emit(report)
            previous = report
            if max_iterations is not None and iterations >= max_iterations:
                reason = f"after {iterations} iteration(s)"
                break
            if flag.event.wait(interval):
                reason = f"by {flag.signal_name or 'request'} after {iterations} iteration(s)"
                break
    closing = Report(previous.command if previous else "db_health")
    closing.add(
        "health.watch.stopped",
        Severity.OK,
        f"Watch stopped {reason}; last status: {previous.status.label if previous else '-'}",
        rank=99,
        iterations=iterations,
        last_status=previous.status.label if previous else None,
    )
    return closing
