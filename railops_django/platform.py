"""Facts about where we run: Railway's variables, and this container's real resource limits.

psutil reports the *host's* memory and CPUs; inside a Railway container the limit that matters
is the cgroup's. We read cgroup v2 first, then v1, and fall back to psutil when no limit is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX rounded to pages).
_V1_UNLIMITED = 1 << 60


@dataclass(frozen=True)
class Railway:
    """What Railway tells a service through its environment."""

    on_railway: bool
    environment_name: str = ""
    project_name: str = ""
    service_name: str = ""
    service_id: str = ""
    replica_id: str = ""
    replica_region: str = ""
    deployment_id: str = ""
    git_commit: str = ""
    public_domain: str = ""
    private_domain: str = ""
    static_url: str = ""
    volume_mount_path: str = ""
    extra_domains: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_production(self) -> bool:
        name = self.environment_name.lower()
        return self.on_railway and (name in ("", "production", "prod") or name.startswith("prod"))


_RAILWAY_MARKERS = (
    "RAILWAY_ENVIRONMENT_NAME",
    "RAILWAY_ENVIRONMENT",
    "RAILWAY_PROJECT_ID",
    "RAILWAY_SERVICE_ID",
    "RAILWAY_DEPLOYMENT_ID",
)


def railway(environ: Mapping[str, str] | None = None) -> Railway:
    env = os.environ if environ is None else environ

    def var(name: str) -> str:
        return env.get(name, "").strip()

    return Railway(
        on_railway=any(var(m) for m in _RAILWAY_MARKERS),
        environment_name=var("RAILWAY_ENVIRONMENT_NAME") or var("RAILWAY_ENVIRONMENT"),
        project_name=var("RAILWAY_PROJECT_NAME"),
        service_name=var("RAILWAY_SERVICE_NAME"),
        service_id=var("RAILWAY_SERVICE_ID"),
        replica_id=var("RAILWAY_REPLICA_ID"),
        replica_region=var("RAILWAY_REPLICA_REGION"),
        deployment_id=var("RAILWAY_DEPLOYMENT_ID"),
        git_commit=var("RAILWAY_GIT_COMMIT_SHA"),
        public_domain=var("RAILWAY_PUBLIC_DOMAIN"),
        private_domain=var("RAILWAY_PRIVATE_DOMAIN"),
        static_url=var("RAILWAY_STATIC_URL"),
        volume_mount_path=var("RAILWAY_VOLUME_MOUNT_PATH"),
    )


@dataclass(frozen=True)
class Resources:
    """Memory and CPU as this container sees them. ``source`` says where the figures came from."""

    source: str  # "cgroup v2", "cgroup v1" or "host"
    memory_limit_bytes: int
    memory_usage_bytes: int
    cpu_limit_cores: float
    memory_limited: bool  # False when the limit is the host's total memory

    @property
    def memory_pct(self) -> float:
        if not self.memory_limit_bytes:
            return 0.0
        return round(100.0 * self.memory_usage_bytes / self.memory_limit_bytes, 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    if text is None or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _stat_value(text: str | None, key: str) -> int | None:
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return _int(value)
    return None


def _own_cgroup_dir(root: Path, proc_self_cgroup: Path) -> Path:
    """The cgroup v2 directory of this process (``0::/path``), or the root."""
    for line in (_read(proc_self_cgroup) or "").splitlines():
        if line.startswith("0::"):
            candidate = root / line[3:].lstrip("/")
            if (candidate / "memory.max").exists() or (candidate / "cpu.max").exists():
                return candidate
    return root


def _cgroup_v2(root: Path, proc_self_cgroup: Path) -> tuple[int | None, int | None, float | None]:
    cg = _own_cgroup_dir(root, proc_self_cgroup)
    limit = _int(_read(cg / "memory.max"))
    usage = _int(_read(cg / "memory.current"))
    if usage is not None:
        # Page cache that the kernel can reclaim is not pressure; docker stats does the same.
        inactive = _stat_value(_read(cg / "memory.stat"), "inactive_file") or 0
        usage = max(usage - inactive, 0)
    cpu = None
    quota, _, period = (_read(cg / "cpu.max") or "").partition(" ")
    if quota and quota != "max" and _int(period):
        cpu = round(int(quota) / int(period), 2)
    return limit, usage, cpu


def _cgroup_v1(root: Path) -> tuple[int | None, int | None, float | None]:
    mem = root / "memory"
    limit = _int(_read(mem / "memory.limit_in_bytes"))
    if limit is not None and limit >= _V1_UNLIMITED:
        limit = None
    usage = _int(_read(mem / "memory.usage_in_bytes"))
    if usage is not None:
        inactive = _stat_value(_read(mem / "memory.stat"), "total_inactive_file") or 0
        usage = max(usage - inactive, 0)
    cpu = None
    for cpu_dir in (root / "cpu", root / "cpu,cpuacct"):
        quota = _int(_read(cpu_dir / "cpu.cfs_quota_us"))
        period = _int(_read(cpu_dir / "cpu.cfs_period_us"))
        if quota and quota > 0 and period:
            cpu = round(quota / period, 2)
            break
    return limit, usage, cpu


def resources(
    cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = Path("/proc/self/cgroup")
) -> Resources:
    """This container's memory limit and usage and its CPU quota."""
    host = psutil.virtual_memory()
    host_cpus = float(psutil.cpu_count() or 1)
    if (cgroup_root / "cgroup.controllers").exists():
        source = "cgroup v2"
        limit, usage, cpu = _cgroup_v2(cgroup_root, proc_self_cgroup)
    elif (cgroup_root / "memory").is_dir():
        source = "cgroup v1"
        limit, usage, cpu = _cgroup_v1(cgroup_root)
    else:
        source, limit, usage, cpu = "host", None, None, None
    limited = limit is not None and limit < host.total
    if not limited and usage is None:
        source = "host"
    return Resources(
        source=source,
        memory_limit_bytes=limit if limited and limit else host.total,
        memory_usage_bytes=usage if usage is not None else host.total - host.available,
        cpu_limit_cores=cpu if cpu else host_cpus,
        memory_limited=limited,
    )


@dataclass(frozen=True)
class CpuTime:
    """CPU seconds used since ``since`` (epoch seconds), and by what: the cgroup or the host."""

    used_s: float
    since: float
    source: str  # "cgroup v2", "cgroup v1" or "host"


def _cgroup_cpu_usec(root: Path, proc_self_cgroup: Path) -> tuple[int, str] | None:
    """CPU time this cgroup used since it was created (v2 cpu.stat, v1 cpuacct.usage)."""
    directory = root
    for line in (_read(proc_self_cgroup) or "").splitlines():
        if line.startswith("0::"):
            candidate = root / line[3:].lstrip("/")
            if (candidate / "cpu.stat").exists():
                directory = candidate
    usage = _stat_value(_read(directory / "cpu.stat"), "usage_usec")
    if usage is not None:
        return usage, "cgroup v2"
    for v1 in (root / "cpuacct", root / "cpu,cpuacct"):
        nanoseconds = _int(_read(v1 / "cpuacct.usage"))
        if nanoseconds is not None:
            return nanoseconds // 1000, "cgroup v1"
    return None


def container_started_at() -> float:
    """When this container started: its PID 1 (the host's boot outside a container)."""
    try:
        return float(psutil.Process(1).create_time())
    except (psutil.Error, OSError):
        return float(psutil.boot_time())


def cpu_time(
    cgroup_root: Path = CGROUP_ROOT,
    proc_self_cgroup: Path = Path("/proc/self/cgroup"),
    started_at: float | None = None,
) -> CpuTime:
    """CPU used by this container since it started; the host's since boot without a cgroup."""
    usage = _cgroup_cpu_usec(cgroup_root, proc_self_cgroup)
    if usage is not None:
        since = container_started_at() if started_at is None else started_at
        return CpuTime(usage[0] / 1_000_000, since, usage[1])
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    busy = sum(times) - idle - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return CpuTime(max(busy, 0.0), float(psutil.boot_time()), "host")
