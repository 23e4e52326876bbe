"""Real subprocesses of example_project: findings reach the user once (the report, never bare
lines on stderr), and three db_health runs in a row agree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connections

from tests.utils import EXAMPLE, ROOT

# A settings module on top of example_project's: thresholds so low that memory and disk warn,
# and no LOGGING (as in most projects).
LOW_THRESHOLDS = """\
from config.settings import *  # noqa: F403
from config.settings import RAILOPS

RAILOPS = {**RAILOPS, "THRESHOLDS": {"memory_pct": [0.01, 100], "disk_pct": [0.01, 100]}}
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DATABASE_UNPOOLED_URL", "DJANGO_SETTINGS_MODULE")
        and not k.startswith(("RAILOPS_", "RAILWAY_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT), str(EXAMPLE)])
    env["RAILOPS_BACKUP_DIR"] = str(tmp_path / "backups")
    env.update(extra)
    return env


def _manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=EXAMPLE,
        timeout=timeout,
    )


@pytest.fixture
def low_thresholds(tmp_path) -> dict[str, str]:
    (tmp_path / "low_thresholds.py").write_text(LOW_THRESHOLDS)
    return _env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="low_thresholds",
        DATABASE_URL=f"sqlite:///{tmp_path / 'quiet.sqlite3'}",
    )


def _finding_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "health." in line or "db_health " in line]


def test_db_health__warnings_without_logging_configured__in_the_report_only(low_thresholds):
    proc = _manage(low_thresholds, "db_health", "--format", "json")
    report = json.loads(proc.stdout)
    warned = [f["id"] for f in report["findings"] if f["severity"] == "warning"]
    assert "health.container.memory" in warned and proc.returncode == 1
    assert _finding_lines(proc.stderr) == [], proc.stderr
    assert proc.stderr == ""


def test_db_health__operator_asks_for_logs__records_go_to_stderr(low_thresholds):
    """The mechanism is the project's logging: with RAILOPS_LOG_LEVEL the records appear."""
    proc = _manage({**low_thresholds, "RAILOPS_LOG_LEVEL": "WARNING"}, "db_health")
    assert any("health.container.memory" in line for line in _finding_lines(proc.stderr))


def test_db_health_watch__no_finding_lines_on_stderr_on_any_pass(low_thresholds):
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "manage.py"), "db_health", "--watch", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=low_thresholds,
        cwd=EXAMPLE,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(line.startswith("db_health: ") for line in lines) >= 3:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        err = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    reader.join(timeout=10)
    passes = [line for line in lines if line.startswith("db_health: WARNING")]
    assert len(passes) >= 3, lines  # each pass warned (memory, disk), and the closing report
    assert _finding_lines(err) == [], err


def _three_runs(env: dict[str, str]) -> list[tuple[str, int, str]]:
    runs = []
    for _ in range(3):
        proc = _manage(env, "db_health", "--format", "json")
        report = json.loads(proc.stdout)
        cpu = next(f for f in report["findings"] if f["id"] == "health.container.cpu")
        runs.append((report["status"], proc.returncode, cpu["severity"]))
    return runs


def test_db_health__three_runs_in_a_row_on_idle_sqlite__same_status(tmp_path):
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'idle.sqlite3'}")
    runs = _three_runs(env)
    assert runs[0] == runs[1] == runs[2], runs


@pytest.mark.postgres
@pytest.mark.django_db
def test_db_health__three_runs_in_a_row_on_idle_postgres__same_status(tmp_path):
    db = connections["default"].settings_dict
    url = (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    runs = _three_runs(_env(tmp_path, DATABASE_URL=url))
    assert runs[0] == runs[1] == runs[2], runs
