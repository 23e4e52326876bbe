from __future__ import annotations

from pathlib import Path

from railops_django import platform
from railops_django.diagnose import resources
from railops_django.diagnose.runner import Context
from railops_django.report import Severity

MIB = 1024 * 1024


def _cgroup(tmp_path: Path, limit_mib: int, usage_mib: int) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "memory.max").write_text(f"{limit_mib * MIB}\n")
    (root / "memory.current").write_text(f"{usage_mib * MIB}\n")
    (root / "memory.stat").write_text("inactive_file 0\n")
    (root / "cpu.max").write_text("100000 100000\n")
    return root


def _fake_resources(monkeypatch, root: Path) -> None:
    real = platform.resources
    monkeypatch.setattr(
        resources.platform, "resources", lambda: real(root, root / "no-such-proc-file")
    )


def test_memory__roomy_container__info_only(monkeypatch, tmp_path):
    _fake_resources(monkeypatch, _cgroup(tmp_path, 8192, 512))
    ctx = Context()
    (f,) = resources.memory(ctx)
    assert f.id == "diagnose.resources.memory" and f.severity is Severity.INFO
    assert ctx.facts["resources"]["memory_limit_mib"] == 8192


def test_memory__near_limit_and_too_many_workers__critical_and_warning(monkeypatch, tmp_path):
    _fake_resources(monkeypatch, _cgroup(tmp_path, 64, 62))
    monkeypatch.setenv("WEB_CONCURRENCY", "9")
    found = {f.id: f for f in resources.memory(Context())}
    pressure = found["diagnose.resources.memory_pressure"]
    assert pressure.severity is Severity.CRITICAL and pressure.rank == 20
    workers = found["diagnose.resources.workers"]
    assert workers.severity is Severity.WARNING and workers.rank == 40
