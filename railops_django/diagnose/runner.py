"""A small probe runner: each probe returns findings; a probe that crashes becomes one finding.

A probe is a plain function ``(ctx) -> list[Finding]``. Probes that do I/O declare a timeout.
It is enforced where the I/O happens, because Django's connections are bound to the calling
thread and cannot be moved to a watchdog thread: the runner bounds every statement of a
database probe (``statement_timeout`` on PostgreSQL, the busy timeout on SQLite), connecting
uses RAILOPS CONNECT_TIMEOUT, and subprocesses get their own timeout. The runner records how
long each probe took, so a slow probe is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import redact
from ..db import schema
from ..redact import logger
from ..report import Finding, Severity
from . import project

AREAS = ("environment", "settings", "database", "static", "application", "resources")


@dataclass
class Context:
    """What probes share: the alias, the replay targets, and facts earlier probes learnt."""

    alias: str = "default"
    urls: tuple[str, ...] = ()
    skip_requests: bool = False
    database_ok: bool | None = None  # None: not probed yet
    facts: dict[str, Any] = field(default_factory=dict)


ProbeFunc = Callable[[Context], list[Finding]]


@dataclass(frozen=True)
class Probe:
    area: str
    name: str
    func: ProbeFunc
    timeout: float | None = None  # seconds; required for a probe that does I/O
    needs_database: bool = False

    @property
    def does_io(self) -> bool:
        return self.timeout is not None


def crash_finding(probe: Probe, exc: BaseException) -> Finding:
    """A probe that raised: the project's load failure (critical, first) when the project's
    code broke while the probe loaded it (a URLconf, a middleware), else a probe crash."""
    if project.loads_project(exc):
        return project.load_failure(exc, during=f"the {probe.name} probe")
    return Finding(
        id=f"diagnose.probe_crashed.{probe.name}",
        severity=Severity.WARNING,
        title=f"The {probe.area} probe {probe.name!r} crashed; its checks did not run",
        detail=redact.mask_exception(exc),
        fix="The other probes still ran. Fix what the error names, or report it to "
        "railops-django with this output (it is masked).",
        rank=90,
        data={"area": probe.area, "probe": probe.name},
    )


def run_probes(probes: list[Probe], ctx: Context) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Run every probe in order; return the findings and one timing row per probe."""
    findings: list[Finding] = []
    timings: list[dict[str, Any]] = []
    for probe in probes:
        if probe.needs_database and ctx.database_ok is False:
            timings.append({"area": probe.area, "probe": probe.name, "ms": 0, "ran": "skipped"})
            continue
        started = time.perf_counter()
        try:
            if probe.needs_database and probe.timeout:
                with schema.statement_timeout(ctx.alias, probe.timeout):
                    found = list(probe.func(ctx))
            else:
                found = list(probe.func(ctx))
            ran = "ok"
        except Exception as exc:
            logger.debug("probe %s crashed", probe.name, exc_info=True)
            found = [crash_finding(probe, exc)]
            ran = "crashed"
        elapsed = time.perf_counter() - started
        findings.extend(found)
        timings.append(
            {"area": probe.area, "probe": probe.name, "ms": round(elapsed * 1000, 1), "ran": ran}
        )
    return findings, timings
