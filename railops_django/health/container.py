"""This container: CPU, memory against the cgroup limit (not the host's), disk of the volumes.

psutil alone reports the host's memory; ``platform.resources()`` reads the cgroup limit.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from .. import conf, platform
from ..db.health import Measurement
from ..report import Severity

CPU_SAMPLE_S = 0.25


def _cgroup_cpu_usec(root: Path, proc_self_cgroup: Path) -> int | None:
    """CPU time used by this container so far (cgroup v2 cpu.stat, or v1 cpuacct), or None."""
    directory = root
    try:
        for line in proc_self_cgroup.read_text().splitlines():
            if line.startswith("0::"):
                candidate = root / line[3:].lstrip("/")
                if (candidate / "cpu.stat").exists():
                    directory = candidate
    except OSError:
        pass
    try:
        text = (directory / "cpu.stat").read_text()
    except OSError:
        for v1 in (root / "cpuacct", root / "cpu,cpuacct"):
            try:
                return int((v1 / "cpuacct.usage").read_text().strip()) // 1000
            except (OSError, ValueError):
                continue
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value)
    return None


def cpu_pct(
    cores: float,
    cgroup_root: Path = platform.CGROUP_ROOT,
    proc_self_cgroup: Path = Path("/proc/self/cgroup"),
    sample_s: float = CPU_SAMPLE_S,
) -> tuple[float, str]:
    """CPU used over ``sample_s`` as a % of the container's quota, and where it came from."""
    first = _cgroup_cpu_usec(cgroup_root, proc_self_cgroup)
    if first is not None:
        started = time.monotonic()
        time.sleep(sample_s)
        second = _cgroup_cpu_usec(cgroup_root, proc_self_cgroup)
        elapsed = time.monotonic() - started
        if second is not None and elapsed > 0 and cores > 0:
            used = (second - first) / 1_000_000 / elapsed
            return round(min(100.0 * used / cores, 100.0), 1), "cgroup"
    return float(psutil.cpu_percent(interval=sample_s)), "host"


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
    cpu: tuple[float, str] | None = None,
) -> list[Measurement]:
    res = resources if resources is not None else platform.resources()
    cpu_value, cpu_source = cpu if cpu is not None else cpu_pct(res.cpu_limit_cores)
    out = [
        Measurement(
            "container.cpu",
            "Container CPU",
            cpu_value,
            "%",
            "cpu_pct",
            detail=f"Over {CPU_SAMPLE_S:g} s, of {res.cpu_limit_cores:g} core(s) ({cpu_source}). "
            "One short sample proves no sustained saturation, so it is at most a warning; "
            "--watch shows whether it lasts.",
            max_severity=Severity.WARNING,
            fix="Sustained high CPU: profile the busiest endpoints, add replicas or raise the "
            "service's vCPU limit (Railway: service > Settings > Resources).",
            rank=50,
            data={"source": cpu_source, "cores": res.cpu_limit_cores},
        ),
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
