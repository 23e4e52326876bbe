"""backup report (RPO, 3-2-1, size jumps, ephemeral disk), create --if-due, cron, daemon."""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from railops_django import backup
from railops_django.backup import catalog, schedule
from railops_django.backup.schedule import Cron
from railops_django.db import backup_engine
from railops_django.report import CannotRun
from tests.utils import run_command


def _set(name: str, **changes) -> None:
    found = catalog.find(name)
    for key, value in changes.items():
        if key == "raw_bytes":
            found.manifest["dump"]["raw_bytes"] = value
        else:
            found.manifest[key] = value
    catalog.save_manifest(found)


def test_report__no_backup__critical_exit_2(backup_dir, db):
    out, _err, code = run_command("backup", "report")
    assert code == 2
    assert "there is no good backup" in out


def test_report__fresh_single_local_copy__warns_on_3_2_1(backup_dir, shop_data):
    backup.create()
    out, _err, code = run_command("backup", "report", "--format", "json")
    payload = json.loads(out)
    assert code == 1
    ids = {f["id"]: f["severity"] for f in payload["findings"]}
    assert ids["backup.report.rpo"] == "ok"
    assert ids["backup.report.3_2_1"] == "warning"
    assert payload["tiers"][0]["tier"] == "manual"


@pytest.mark.parametrize(("hours", "severity"), [(30, "warning"), (60, "critical")])
def test_report__newest_backup_older_than_max_age__warns_then_critical(
    backup_dir, shop_data, hours, severity
):
    name = backup.create().name
    _set(name, created_at=(datetime.now(UTC) - timedelta(hours=hours)).isoformat())
    out, _err, code = run_command("backup", "report", "--format", "json")
    rpo = next(f for f in json.loads(out)["findings"] if f["id"] == "backup.report.rpo")
    assert rpo["severity"] == severity
    assert code == (1 if severity == "warning" else 2)


def test_report__newest_backup_dated_in_the_future__warns_and_judges_the_rpo_without_it(
    backup_dir, shop_data, settings
):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_MAX_AGE": 3600}
    old = backup.create()
    _set(old.name, created_at=(datetime.now(UTC) - timedelta(hours=3)).isoformat())
    skewed = backup.create()  # taken by a machine whose clock ran a year ahead
    _set(skewed.name, created_at=(datetime.now(UTC) + timedelta(days=365)).isoformat())

    out, err, code = run_command("backup", "report", "--format", "json")

    assert code == 2, out + err
    findings = {f["id"]: f for f in json.loads(out)["findings"]}
    assert findings["backup.report.future"]["severity"] == "warning"
    assert skewed.name in findings["backup.report.future"]["detail"]
    assert findings["backup.report.rpo"]["severity"] == "critical"
    assert findings["backup.report.rpo"]["detail"] == old.name
    assert "-" not in findings["backup.report.rpo"]["title"].split(" old")[0]


def test_report__every_backup_dated_in_the_future__rpo_critical(backup_dir, shop_data):
    skewed = backup.create()
    _set(skewed.name, created_at=(datetime.now(UTC) + timedelta(days=2)).isoformat())

    out, err, code = run_command("backup", "report", "--format", "json")

    assert code == 2, out + err
    findings = {f["id"]: f for f in json.loads(out)["findings"]}
    assert findings["backup.report.rpo"]["severity"] == "critical"
    assert "backup.report.future" in findings


def test_latest__newest_dated_in_the_future__the_newest_real_one_is_used(backup_dir, shop_data):
    old = backup.create()
    skewed = backup.create()  # an edited manifest, or a clock a month ahead
    _set(skewed.name, created_at=(datetime.now(UTC) + timedelta(days=30)).isoformat())

    assert catalog.find(None, "default", latest=True).name == old.name
    out, err, code = run_command("backup", "verify", "--latest", "--format", "json")
    assert code == 0, out + err
    assert [v["name"] for v in json.loads(out)["verified"]] == [old.name]


def test_latest__every_backup_dated_in_the_future__exit_3_one_line_naming_it(backup_dir, shop_data):
    skewed = backup.create()
    _set(skewed.name, created_at=(datetime.now(UTC) + timedelta(days=30)).isoformat())

    with pytest.raises(CannotRun, match="dated in the future"):
        catalog.find(None, "default", latest=True)
    out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--force")
    assert code == 3, out + err
    assert skewed.name in out + err and "Traceback" not in out + err


def test_report__newest_backup_3x_median__size_jump_warning(backup_dir, shop_data):
    names = [backup.create().name for _ in range(4)]
    for age, name in enumerate(reversed(names)):
        _set(name, created_at=(datetime.now(UTC) - timedelta(minutes=age)).isoformat())
    _set(names[-1], raw_bytes=catalog.find(names[-1]).manifest["dump"]["raw_bytes"] * 3)
    out, _err, _code = run_command("backup", "report")
    assert "backup.report.size_jump" in out and "3.0x the median" in out


def test_ephemeral_disk_on_railway__create_and_report_say_so(backup_dir, shop_data, monkeypatch):
    monkeypatch.setenv("RAILWAY_ENVIRONMENT_NAME", "production")
    monkeypatch.delenv("RAILWAY_VOLUME_MOUNT_PATH", raising=False)
    out, _err, code = run_command("backup", "create")
    assert code == 0
    assert "backup.ephemeral_storage" in out and "wipes on every deploy" in out
    out, _err, code = run_command("backup", "report")
    assert "backup.ephemeral_storage" in out
    monkeypatch.setenv("RAILWAY_VOLUME_MOUNT_PATH", str(backup_dir.parent))
    out, _err, code = run_command("backup", "create")
    assert "backup.ephemeral_storage" not in out


def test_create_if_due__second_run_same_day__skips(backup_dir, shop_data):
    out, _err, code = run_command("backup", "create", "--if-due")
    assert code == 0 and "backup.created" in out
    tier = backup.list_backups()[0].tier
    assert tier in ("daily", "weekly", "monthly")
    out, _err, code = run_command("backup", "create", "--if-due")
    assert code == 0 and "no backup needed" in out
    assert len(backup.list_backups()) == 1


def test_due__yesterdays_daily__is_due_today(backup_dir, shop_data):
    name = backup.create("default", "daily").name
    now = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)  # a Wednesday
    _set(name, created_at=(now - timedelta(days=1)).isoformat())
    assert schedule.due("default", now)[:2] == (True, "daily")
    _set(name, created_at=(now - timedelta(hours=2)).isoformat())
    assert schedule.due("default", now)[0] is False


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("0 3 * * *", "2026-03-04T03:00", "2026-03-05T03:00"),
        ("0 3 * * *", "2026-03-04T02:59", "2026-03-04T03:00"),
        ("*/15 * * * *", "2026-03-04T10:07", "2026-03-04T10:15"),
        ("30 2 1 * *", "2026-03-04T00:00", "2026-04-01T02:30"),
        ("0 4 * * 0", "2026-03-04T00:00", "2026-03-08T04:00"),  # Sunday
        ("0 4 * * 7", "2026-03-04T00:00", "2026-03-08T04:00"),
        ("0 0 1,15 * 1-5", "2026-03-04T00:00", "2026-03-05T00:00"),  # dom OR dow
    ],
)
def test_cron__next_after__matches_cron_semantics(expr, after, expected):
    start = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert Cron(expr).next_after(start) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize("expr", ["0 3 * *", "61 * * * *", "0 3 31 2 *", "a b c d e"])
def test_cron__bad_expression__cannot_run(expr):
    with pytest.raises(CannotRun):
        Cron(expr).next_after(datetime(2026, 1, 1, tzinfo=UTC))


def test_daemon_once__creates_then_cleans_up(backup_dir, shop_data):
    out, err, code = run_command("backup", "daemon", "--once")
    assert code == 0, out + err
    assert len(backup.list_backups()) == 1


def test_daemon__another_replica_holds_the_lock__skips(backup_dir, shop_data):
    engine = backup_engine.for_alias("default")
    with engine.replica_lock("default", Path(backup_dir)) as held:
        assert held
        out, _err, _code = run_command("backup", "daemon", "--once")
    assert "another replica holds the backup lock" in out
    assert backup.list_backups() == []


def test_daemon__fires_on_schedule_with_a_fake_clock(backup_dir, shop_data, settings):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_SCHEDULE": "*/5 * * * *"}
    ticks = iter(
        datetime(2026, 3, 4, 10, 4, tzinfo=UTC) + timedelta(seconds=20 * i) for i in range(100)
    )
    waits = []
    report = schedule.daemon("default", clock=lambda: next(ticks), max_runs=1, wait=waits.append)
    assert waits  # it waited for 10:05 before running
    assert report.exit_code == 0
    assert len(backup.list_backups()) == 1


def test_daemon__sigterm_while_waiting__stops_cleanly(backup_dir, db, settings):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_SCHEDULE": "0 3 1 1 *"}
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    report = schedule.daemon("default")
    timer.join()
    assert "daemon stopped after 0 run(s)" in report.findings[-1].title
    assert backup.list_backups() == []
