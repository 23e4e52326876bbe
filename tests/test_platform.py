from __future__ import annotations

from pathlib import Path

import psutil

from railops_django import platform

GIB = 1 << 30


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content + "\n")
    return root


def test_railway__reads_the_variables_railway_sets():
    env = {
        "RAILWAY_ENVIRONMENT_NAME": "production",
        "RAILWAY_PUBLIC_DOMAIN": "shop.up.railway.app",
        "RAILWAY_PRIVATE_DOMAIN": "shop.railway.internal",
        "RAILWAY_SERVICE_NAME": "web",
        "RAILWAY_REPLICA_ID": "r-1",
        "RAILWAY_DEPLOYMENT_ID": "dep-9",
        "RAILWAY_GIT_COMMIT_SHA": "abc123",
        "RAILWAY_VOLUME_MOUNT_PATH": "/data",
    }
    facts = platform.railway(env)
    assert facts.on_railway and facts.is_production
    assert (facts.public_domain, facts.private_domain) == (
        "shop.up.railway.app",
        "shop.railway.internal",
    )
    assert (facts.service_name, facts.replica_id, facts.deployment_id) == ("web", "r-1", "dep-9")
    assert (facts.git_commit, facts.volume_mount_path) == ("abc123", "/data")


def test_railway__off_railway_and_staging_are_not_production():
    assert not platform.railway({}).on_railway
    assert not platform.railway({}).is_production
    assert not platform.railway({"RAILWAY_ENVIRONMENT_NAME": "staging"}).is_production


def test_cgroup_v2__limit_usage_without_reclaimable_cache_and_cpu_quota(tmp_path):
    root = _tree(
        tmp_path,
        {
            "cgroup.controllers": "cpu memory",
            "memory.max": str(GIB),
            "memory.current": str(600 << 20),
            "memory.stat": f"anon 1\ninactive_file {100 << 20}\n",
            "cpu.max": "200000 100000",
        },
    )
    res = platform.resources(root, tmp_path / "no-proc")
    assert res.source == "cgroup v2" and res.memory_limited
    assert res.memory_limit_bytes == GIB
    assert res.memory_usage_bytes == 500 << 20
    assert res.cpu_limit_cores == 2.0
    assert res.memory_pct == round(100 * 500 / 1024, 1)


def test_cgroup_v2__nested_own_group_is_used(tmp_path):
    root = _tree(
        tmp_path / "cg",
        {
            "cgroup.controllers": "cpu memory",
            "memory.max": "max",
            "app.slice/memory.max": str(2 * GIB),
            "app.slice/memory.current": str(GIB),
        },
    )
    proc = _tree(tmp_path, {"self-cgroup": "0::/app.slice"}) / "self-cgroup"
    res = platform.resources(root, proc)
    assert res.memory_limit_bytes == 2 * GIB and res.memory_pct == 50.0


def test_cgroup_v2__no_limit_falls_back_to_host_total(tmp_path):
    root = _tree(
        tmp_path, {"cgroup.controllers": "memory", "memory.max": "max", "cpu.max": "max 100000"}
    )
    res = platform.resources(root, tmp_path / "none")
    assert not res.memory_limited
    assert res.memory_limit_bytes == psutil.virtual_memory().total
    assert res.cpu_limit_cores == float(psutil.cpu_count())


def test_cgroup_v1__limit_usage_and_cfs_quota(tmp_path):
    root = _tree(
        tmp_path,
        {
            "memory/memory.limit_in_bytes": str(512 << 20),
            "memory/memory.usage_in_bytes": str(300 << 20),
            "memory/memory.stat": f"total_inactive_file {44 << 20}",
            "cpu,cpuacct/cpu.cfs_quota_us": "50000",
            "cpu,cpuacct/cpu.cfs_period_us": "100000",
        },
    )
    res = platform.resources(root, tmp_path / "none")
    assert res.source == "cgroup v1"
    assert res.memory_limit_bytes == 512 << 20 and res.memory_usage_bytes == 256 << 20
    assert res.cpu_limit_cores == 0.5 and res.memory_pct == 50.0


def test_cgroup_v1__unlimited_sentinel_is_no_limit(tmp_path):
    root = _tree(
        tmp_path,
        {
            "memory/memory.limit_in_bytes": str(9223372036854771712),
            "memory/memory.usage_in_bytes": "1000",
        },
    )
    res = platform.resources(root, tmp_path / "none")
    assert not res.memory_limited and res.memory_usage_bytes == 1000


def test_no_cgroup__psutil_host_figures(tmp_path):
    res = platform.resources(tmp_path / "missing", tmp_path / "none")
    assert res.source == "host" and not res.memory_limited
    assert 0 < res.memory_pct <= 100


def test_cpu_time__cgroup_v2__own_nested_group_since_the_container_started(tmp_path):
    root = _tree(
        tmp_path / "cg",
        {
            "cgroup.controllers": "cpu memory",
            "cpu.stat": "usage_usec 999000000",
            "app.slice/cpu.stat": "usage_usec 12500000\nuser_usec 10000000\nnr_throttled 3",
        },
    )
    proc = _tree(tmp_path, {"self-cgroup": "0::/app.slice"}) / "self-cgroup"
    used = platform.cpu_time(root, proc, started_at=1_700_000_000.0)
    assert used == platform.CpuTime(12.5, 1_700_000_000.0, "cgroup v2")


def test_cpu_time__cgroup_v1__cpuacct_nanoseconds(tmp_path):
    root = _tree(tmp_path, {"cpu,cpuacct/cpuacct.usage": "3000000000"})
    used = platform.cpu_time(root, tmp_path / "none", started_at=5.0)
    assert used.used_s == 3.0 and used.source == "cgroup v1"


def test_cpu_time__unreadable_cgroup__the_host_since_boot(tmp_path):
    _tree(tmp_path, {"cpu.stat": "usage_usec not-a-number"})
    used = platform.cpu_time(tmp_path, tmp_path / "none")
    assert used.source == "host" and used.since == psutil.boot_time()
    assert 0 < used.used_s <= sum(psutil.cpu_times())


def test_container_started_at__pid_1__never_in_the_future():
    import time

    started = platform.container_started_at()
    assert psutil.boot_time() - 1 <= started <= time.time()
