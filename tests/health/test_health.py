"""db_health on any database (SQLite or PostgreSQL): metrics, thresholds, container, command."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path

import psutil
import pytest
from django.test import override_settings

from railops_django import health, platform
from railops_django.db.health import Measurement, masked_query
from railops_django.health import container
from railops_django.health.metrics import evaluate, grade
from railops_django.report import Severity
from tests.utils import run_command

from .conftest import db_alias, finding

SUSTAINED = container.SUSTAINED_WINDOW_S


def test_grade__higher_is_worse_and_lower_is_worse():
    assert grade(79.9, "connections_pct")[0] is Severity.OK
    assert grade(80, "connections_pct")[0] is Severity.WARNING
    assert grade(95, "connections_pct")[0] is Severity.CRITICAL
    assert grade(99.5, "cache_hit_ratio_pct")[0] is Severity.OK
    assert grade(98, "cache_hit_ratio_pct")[0] is Severity.WARNING
    assert grade(90, "cache_hit_ratio_pct")[0] is Severity.CRITICAL
    assert grade(None, "query_seconds")[0] is Severity.OK


def test_evaluate__finding_carries_value_threshold_unit_and_fix():
    f, row = evaluate(
        Measurement(
            "pg.long_query", "Longest running query", 6.5, "s", "query_seconds", fix="cancel it"
        )
    )
    assert f.id == "health.pg.long_query" and f.severity is Severity.CRITICAL
    assert f.data["value"] == 6.5 and f.data["threshold"] == [1, 5] and f.data["unit"] == "s"
    assert "critical ≥ 5 s" in f.title and f.fix == "cancel it"
    assert row == {
        "name": "railops_pg_long_query",
        "value": 6.5,
        "unit": "s",
        "warning": 1,
        "critical": 5,
        "severity": "critical",
        "labels": {},
    }


@override_settings(RAILOPS={"THRESHOLDS": {"query_seconds": [10, 20]}})
def test_evaluate__railops_thresholds_override_the_defaults():
    f, _ = evaluate(
        Measurement("pg.long_query", "Longest running query", 6.5, "s", "query_seconds")
    )
    assert f.severity is Severity.OK and f.data["threshold"] == [10, 20]


def test_masked_query__literals_hidden_secrets_masked_truncated():
    text = (
        "UPDATE users SET password = 'hunter2-secret' WHERE dsn = 'postgres://a:pw1234@h/db' "
        + "x" * 400
    )
    out = masked_query(text)
    assert "hunter2" not in out and "pw1234" not in out
    assert len(out) <= 200 and out.endswith("…")


@pytest.mark.django_db
def test_run__every_metric_has_value_threshold_severity_and_fix():
    report = health.run("default")
    metric_findings = [f for f in report.findings if "threshold" in f.data]
    assert len(metric_findings) >= 8
    for f in metric_findings:
        assert {"value", "threshold", "unit"} <= set(f.data) and f.fix, f.id
    ids = {f.id for f in report.findings}
    assert {"health.db.latency", "health.container.memory", "health.container.cpu"} <= ids
    assert any(i.startswith("health.container.disk.") for i in ids)
    names = {m["name"] for m in report.extras["metrics"]}
    assert "railops_db_latency" in names and "railops_container_memory" in names
    assert report.extras["cost"]["queries"] > 0


@pytest.mark.sqlite
@pytest.mark.django_db
def test_sqlite__wal_file_and_freelist_and_journal_mode(tmp_path):
    path = tmp_path / "app.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, t TEXT)")
    raw.executemany("INSERT INTO big (t) VALUES (?)", [("x" * 1000,)] * 400)
    raw.commit()
    raw.execute("DELETE FROM big WHERE id > 100")
    raw.commit()
    try:
        with db_alias("health_sqlite", NAME=str(path)) as alias:
            report = health.run(alias, include_container=False)
    finally:
        raw.close()
    assert finding(report, "health.sqlite.quick_check").severity is Severity.OK
    assert finding(report, "health.sqlite.journal_mode").data["journal_mode"] == "wal"
    assert finding(report, "health.sqlite.wal_size").data["value"] > 0
    free = finding(report, "health.sqlite.freelist")
    assert free.data["value"] > 25 and free.severity >= Severity.WARNING, free.title
    assert report.extras["largest_tables"][0]["table"] == "big"


@pytest.mark.sqlite
@pytest.mark.django_db
def test_sqlite__damaged_file__quick_check_critical(tmp_path):
    path = tmp_path / "bad.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    raw.execute("CREATE INDEX t_v ON t (v)")
    raw.executemany("INSERT INTO t (v) VALUES (?)", [(f"value-{i}" * 20,) for i in range(2000)])
    raw.commit()
    raw.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 3, len(data) - page, page * 4):  # scribble over b-tree pages
        data[offset + 8 : offset + 64] = b"\xff" * 56
    path.write_bytes(bytes(data))
    with db_alias("health_bad", NAME=str(path)) as alias:
        report = health.run(alias, include_container=False)
    check = finding(report, "health.sqlite.quick_check")
    assert check.severity is Severity.CRITICAL and "restore" in check.fix


def _cgroup_v2(root: Path, limit: int, usage: int) -> Path:
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "memory.max").write_text(f"{limit}\n")
    (root / "memory.current").write_text(f"{usage}\n")
    (root / "memory.stat").write_text("inactive_file 0\n")
    (root / "cpu.max").write_text("100000 100000\n")
    (root / "cpu.stat").write_text("usage_usec 1000\n")
    return root


def test_container__memory_against_the_cgroup_limit_not_the_host(tmp_path, settings):
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path / "backups")}
    root = _cgroup_v2(tmp_path, limit=512 * 1_048_576, usage=480 * 1_048_576)
    res = platform.resources(cgroup_root=root, proc_self_cgroup=tmp_path / "none")
    measured = {m.id: m for m in container.measure([], resources=res, cpu=_cpu(10.0))}
    memory, _ = evaluate(measured["container.memory"])
    assert memory.severity is Severity.CRITICAL and memory.data["value"] == 93.8
    assert "512 MiB" in memory.detail and "container's limit" in memory.detail
    disk, _ = evaluate(measured["container.disk.backups"])
    assert disk.data["threshold"] == [80, 90] and str(tmp_path) in disk.data["path"]


def _cpu(average: float, window_s: float = 3600.0, sample: float | None = None):
    return container.CpuUsage(average, window_s, "cgroup v2", 1.0, sample)


def test_container__cpu_average_since_the_container_started(tmp_path):
    root = _cgroup_v2(tmp_path, limit=1 << 30, usage=1 << 20)
    # 1 core for 1000 s; the cgroup used 450 s of CPU: 45 %, whatever the moment looks like
    (root / "cpu.stat").write_text("usage_usec 450000000\nnr_throttled 0\n")
    cpu = container.cpu_usage(
        1.0,
        cgroup_root=root,
        proc_self_cgroup=tmp_path / "x",
        sample_s=0,
        started_at=time.time() - 1000,
    )
    assert cpu.source == "cgroup v2" and 44.9 <= cpu.average_pct <= 45.1 and cpu.sustained
    assert cpu.sample_pct is None and 999 <= cpu.window_s <= 1002


def test_container__cpu_sample_from_cgroup_usage_delta_is_shown(tmp_path):
    root = _cgroup_v2(tmp_path, limit=1 << 30, usage=1 << 20)
    stat = tmp_path / "cpu.stat"

    def advance():  # the cgroup used 0.2 s of CPU during the sample
        time.sleep(0.05)
        stat.write_text("usage_usec 201000\n")

    t = threading.Thread(target=advance)
    t.start()
    cpu = container.cpu_usage(
        1.0,
        cgroup_root=root,
        proc_self_cgroup=tmp_path / "x",
        sample_s=0.25,
        started_at=time.time() - 1000,
    )
    t.join()
    assert cpu.sample_pct is not None and 60 <= cpu.sample_pct <= 85
    measured = container._cpu_measurement(cpu)
    assert f"{cpu.sample_pct:g} % over the last 0.25 s" in measured.detail
    finding, _ = evaluate(measured)
    assert finding.severity is Severity.OK and finding.data["value"] == cpu.average_pct < 1


def test_container__cpu_v1_cpuacct_usage_in_nanoseconds(tmp_path):
    (tmp_path / "memory").mkdir()
    (tmp_path / "cpuacct").mkdir()
    (tmp_path / "cpuacct" / "cpuacct.usage").write_text("500000000000\n")  # 500 s
    cpu = container.cpu_usage(
        2.0,
        cgroup_root=tmp_path,
        proc_self_cgroup=tmp_path / "x",
        sample_s=0,
        started_at=time.time() - 1000,
    )
    assert cpu.source == "cgroup v1" and 24.9 <= cpu.average_pct <= 25.1


def test_container__no_cgroup__host_cpu_since_boot(tmp_path):
    cpu = container.cpu_usage(
        1.0, cgroup_root=tmp_path / "none", proc_self_cgroup=tmp_path / "x", sample_s=0
    )
    assert cpu.source == "host" and cpu.cores == float(psutil.cpu_count())
    assert 0 <= cpu.average_pct <= 100 and cpu.window_s > 0


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [
        (_cpu(30.0, sample=100.0), Severity.OK),  # a spike now, an idle average: nothing
        (_cpu(100.0, sample=100.0), Severity.WARNING),  # saturated for an hour: at most a warning
        (_cpu(99.0, window_s=60.0), Severity.INFO),  # a 1-minute-old container: start-up work
        (_cpu(85.0, window_s=SUSTAINED - 1), Severity.INFO),
        (_cpu(85.0, window_s=SUSTAINED), Severity.WARNING),
    ],
)
def test_container__cpu_severity__judged_on_the_sustained_average_only(cpu, expected):
    finding, _ = evaluate(container._cpu_measurement(cpu))
    assert finding.severity is expected and finding.data["threshold"] == [80, 95]


@pytest.mark.django_db
def test_command__json_has_findings_metrics_and_exit_code():
    out, _err, code = run_command("db_health", "--format", "json")
    data = json.loads(out)
    assert data["command"] == "db_health" and code == data["exit_code"] in (0, 1, 2)
    assert isinstance(data["findings"], list) and data["metrics"] and data["cost"]["queries"] > 0


OM_LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? -?[0-9.e+-]+$'
)


@pytest.mark.django_db
def test_command__openmetrics_is_scrapable():
    out, _err, _code = run_command("db_health", "--format", "openmetrics")
    lines = out.splitlines()
    assert lines[-1] == "# EOF"
    samples = [line for line in lines if not line.startswith("#")]
    assert all(OM_LINE.match(line) for line in samples), [
        s for s in samples if not OM_LINE.match(s)
    ]
    assert any(line.startswith('railops_status{command="db_health"}') for line in samples)
    assert any(line.startswith("railops_db_latency ") for line in samples)
    assert 'railops_container_memory_threshold{level="critical"} 90' in samples


@pytest.mark.django_db
def test_command__alert_without_webhook__exit_3_with_the_setting_to_set(monkeypatch):
    monkeypatch.delenv("RAILOPS_ALERT_WEBHOOK_URL", raising=False)
    out, err, code = run_command("db_health", "--alert")
    assert code == 3 and "RAILOPS_ALERT_WEBHOOK_URL" in err and not out


@pytest.mark.django_db
def test_command__watch_below_one_second__exit_3():
    _out, _err, code = run_command("db_health", "--watch", "0.1")
    assert code == 3


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30 s"), (600, "10 min"), (3 * 3600, "3.0 h"), (5 * 86400, "5.0 days")],
)
def test_container__cpu_window_reads_in_the_unit_a_person_would_use(seconds, text):
    measured = container._cpu_measurement(_cpu(10.0, window_s=seconds))
    assert f"Average over the {text} since the container started" in measured.detail


def test_container__cpu_no_elapsed_time__zero_not_a_division_error():
    assert container._pct(5.0, 0.0, 1.0) == 0.0 and container._pct(5.0, 10.0, 0.0) == 0.0
    assert container._pct(50.0, 10.0, 1.0) == 100.0  # a cgroup older than PID 1: capped


def test_cache_hit_ratio__cold_cache_is_at_most_a_warning_and_small_samples_are_not_judged():
    from railops_django.db.health import Sample
    from railops_django.db.postgres.metrics import queries
    from railops_django.health.metrics import evaluate

    row = {
        "stats_reset": None,
        "heap_hit": 50_000,
        "heap_read": 50_000,
        "idx_hit": 900,
        "idx_read": 100,
        "xact_commit": 10,
        "xact_rollback": 0,
        "deadlocks": 0,
        "temp_files": 0,
        "temp_bytes": 0,
    }
    sample = Sample("postgresql")
    queries.measure_stats(sample, row)
    findings = {m.id: evaluate(m)[0] for m in sample.measurements}
    tables, indexes = findings["pg.cache_hit.tables"], findings["pg.cache_hit.indexes"]
    assert tables.severity is Severity.WARNING  # 50 % would be critical by the threshold alone
    assert indexes.severity is Severity.OK and "too few to judge" in indexes.detail
