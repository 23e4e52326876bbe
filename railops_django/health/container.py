"""This container: CPU, memory against the cgroup limit (not the host's), disk of the volumes.

psutil alone reports the host's memory; ``platform.resources()`` reads the cgroup limit. CPU is
judged on the container's average since it started (``platform.cpu_time()``), so runs in a row
agree; the short sample beside it is shown, never judged.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from .. import conf, platform
from ..db.health import Measurement
from ..report import Severity

CPU_SAMPLE_S = 0.25
# Averaged over less than this, CPU is start-up work (imports, migrate, collectstatic in a
# pre-deploy container), not load: such a figure is at most info.
SUSTAINED_WINDOW_S = 300.0


@dataclass(frozen=True)
class CpuUsage:
    """The average since the container started (what is judged) and a short sample (shown)."""

    average_pct: float
    window_s: float
    source: str
    cores: float
    sample_pct: float | None = None
    sample_s: float = CPU_SAMPLE_S

    @property
    def sustained(self) -> bool:
        return self.window_s >= SUSTAINED_WINDOW_S


def _pct(used_s: float, elapsed_s: float, cores: float) -> float:
    if elapsed_s <= 0 or cores <= 0:
        return 0.0
    return round(min(max(100.0 * used_s / elapsed_s / cores, 0.0), 100.0), 1)


def cpu_usage(
    cores: float,
    cgroup_root: Path = platform.CGROUP_ROOT,
    proc_self_cgroup: Path = Path("/proc/self/cgroup"),
    sample_s: float = CPU_SAMPLE_S,
    started_at: float | None = None,
) -> CpuUsage:
    """CPU as a % of the container's quota: since it started, and over ``sample_s`` now."""
    first = platform.cpu_time(cgroup_root, proc_self_cgroup, started_at)
    if first.source == "host":  # the host's CPU time is summed over all its CPUs
        cores = float(psutil.cpu_count() or 1)
    window = time.time() - first.since
    sample: float | None = None
    if sample_s > 0:
        started = time.monotonic()
        time.sleep(sample_s)
        second = platform.cpu_time(cgroup_root, proc_self_cgroup, first.since)
        sample = _pct(second.used_s - first.used_s, time.monotonic() - started, cores)
    return CpuUsage(
        _pct(first.used_s, window, cores), max(window, 0.0), first.source, cores, sample, sample_s
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _cpu_measurement(cpu: CpuUsage) -> Measurement:
    since = "the host booted" if cpu.source == "host" else "the container started"
    detail = (
        f"Average over the {_duration(cpu.window_s)} since {since}, of {cpu.cores:g} core(s) "
        f"({cpu.source})"
        + (
            f"; {cpu.sample_pct:g} % over the last {cpu.sample_s:g} s."
            if cpu.sample_pct is not None
            else "."
        )
        + (
            " A momentary reading is never judged; a sustained average is at most a warning."
            if cpu.sustained
            else f" Under {SUSTAINED_WINDOW_S / 60:g} min that is start-up work, not load: "
            "at most info."
        )
    )
    return Measurement(
        "container.cpu",
        "Container CPU",
        cpu.average_pct,
        "%",
        "cpu_pct",
        detail=detail,
        max_severity=Severity.WARNING if cpu.sustained else Severity.INFO,
        fix="Sustained high CPU: profile the busiest endpoints, add replicas or raise the "
        "service's vCPU limit (Railway: service > Settings > Resources).",
        rank=50,
        data={
            "source": cpu.source,
            "cores": cpu.cores,
            "window_s": round(cpu.window_s, 1),
            "sample_pct": cpu.sample_pct,
        },
    )


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def disk_paths(db_paths: Iterable[str]) -> list[tuple[str, Path]]:
    """(what, path) for the database file(s), the backup directory and the Railway volume."""
    paths: list[tuple[str, Path]] = [("database", Path(p)) for p in db_paths]
    paths.append(("backups", Path(conf.get("BACKUP_DIR"))))
    volume = os.environ.get("RAILWAY_VOLUME_MOUNT_PATH")
    if volume:
        paths.append(("volume", Path(volume)))
    return paths


def measure(
    db_paths: Iterable[str] = (),
    resources: platform.Resources | None = None,
    cpu: CpuUsage | None = None,
) -> list[Measurement]:
    res = resources if resources is not None else platform.resources()
    out = [
        _cpu_measurement(cpu if cpu is not None else cpu_usage(res.cpu_limit_cores)),
        Measurement(
            "container.memory",
            "Container memory",
            res.memory_pct,
            "%",
            "memory_pct",
            detail=(
                f"{res.memory_usage_bytes / 1_048_576:,.0f} MiB of "
                f"{res.memory_limit_bytes / 1_048_576:,.0f} MiB "
                + (
                    f"(the container's limit, {res.source})."
                    if res.memory_limited
                    else "(no container limit found: the host's memory)."
                )
            ),
            fix="Near the limit the container is OOM-killed: lower gunicorn workers "
            "(each is a full copy of the app), use --max-requests to recycle leaks, or raise the "
            "service's memory limit.",
            rank=12,
            data={"source": res.source, "limit_bytes": res.memory_limit_bytes},
        ),
    ]
    seen: dict[int, list[str]] = {}
    targets: list[tuple[int, str, Path]] = []
    for what, raw in disk_paths(db_paths):
        path = _existing(raw)
        try:
            device = path.stat().st_dev
        except OSError:
            continue
        if device not in seen:
            seen[device] = []
            targets.append((device, what, path))
        seen[device].append(f"{what} ({raw})")
    for device, what, path in targets:
        usage = shutil.disk_usage(path)
        pct = round(100.0 * usage.used / (usage.used + usage.free), 1) if usage.total else 0.0
        out.append(
            Measurement(
                f"container.disk.{what}",
                f"Disk of the {what} volume",
                pct,
                "%",
                "disk_pct",
                detail=(
                    f"{usage.used / 1_073_741_824:,.1f} GiB used of "
                    f"{usage.total / 1_073_741_824:,.1f} GiB at {path}; holds "
                    + ", ".join(seen[device])
                    + "."
                ),
                fix="Delete old backups (backup cleanup), VACUUM, or grow the volume "
                "(Railway: volume > Settings > size) before writes fail.",
                rank=7,
                labels={"volume": what},
                data={"path": str(path), "free_bytes": usage.free},
            )
        )
    return out
