"""Resource probes: the container's memory limit and usage, and how many workers fit."""

from __future__ import annotations

import psutil
from django.conf import settings

from .. import conf, platform
from ..report import Finding, Severity
from . import deploy_config
from .runner import Context

MIB = 1024 * 1024


def memory(ctx: Context) -> list[Finding]:
    res = platform.resources()
    rss = psutil.Process().memory_info().rss
    config = deploy_config.read(getattr(settings, "BASE_DIR", None))
    concurrency = deploy_config.gunicorn_concurrency(config.start_command)
    fits = max(int(res.memory_limit_bytes * 0.8 // max(rss, 1)), 1)
    data = {
        "source": res.source,
        "memory_limit_mib": round(res.memory_limit_bytes / MIB),
        "memory_usage_mib": round(res.memory_usage_bytes / MIB),
        "memory_pct": round(res.memory_pct, 1),
        "cpu_cores": res.cpu_limit_cores,
        "worker_rss_mib": round(rss / MIB),
        "workers_that_fit": fits,
        "workers": concurrency["workers"],
        "threads": concurrency["threads"],
    }
    ctx.facts["resources"] = data
    findings = [
        Finding(
            id="diagnose.resources.memory",
            severity=Severity.INFO,
            title=f"Memory {data['memory_usage_mib']} of {data['memory_limit_mib']} MiB "
            f"({res.source}); about {fits} workers of {data['worker_rss_mib']} MiB fit",
            rank=95,
            data=data,
        )
    ]
    if not res.memory_limited:
        return findings
    warn, crit = conf.threshold("memory_pct")
    if res.memory_pct >= warn:
        findings.append(
            Finding(
                id="diagnose.resources.memory_pressure",
                severity=Severity.CRITICAL if res.memory_pct >= crit else Severity.WARNING,
                title=f"The container uses {res.memory_pct:.0f}% of its memory limit",
                detail="Near the limit the kernel kills a worker (OOM): requests in flight "
                "fail with 502.",
                fix="Lower gunicorn workers (WEB_CONCURRENCY) or raise the service's memory.",
                rank=20,
                data=data,
            )
        )
    if concurrency["workers"] > fits:
        findings.append(
            Finding(
                id="diagnose.resources.workers",
                severity=Severity.WARNING,
                title=f"{concurrency['workers']} workers configured; about {fits} fit in memory",
                detail=f"Each worker holds about {data['worker_rss_mib']} MiB (this process); "
                f"the limit is {data['memory_limit_mib']} MiB.",
                fix=f"Set WEB_CONCURRENCY={fits} (or --workers {fits}) and use --threads for "
                "concurrency.",
                rank=40,
                data=data,
            )
        )
    return findings
