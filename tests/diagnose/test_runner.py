from __future__ import annotations

import time

import pytest
from django.db import connection

from railops_django.diagnose.runner import Context, Probe, run_probes
from railops_django.report import Finding, Severity


def _boom(ctx):
    raise RuntimeError("probe bug with postgres://app:s3cr3t-pw@db:5432/x")


def _fine(ctx):
    return [Finding("t.fine", Severity.INFO, "fine")]


def test_runner__crashing_probe__one_masked_finding_and_the_rest_still_run():
    findings, timings = run_probes(
        [Probe("settings", "boom", _boom), Probe("settings", "fine", _fine)], Context()
    )
    crash, fine = findings
    assert (
        crash.id == "diagnose.probe_crashed.boom"
        and crash.severity is Severity.WARNING
        and crash.rank == 90
    )
    assert "s3cr3t-pw" not in crash.detail and "RuntimeError" in crash.detail
    assert fine.id == "t.fine"
    assert [t["ran"] for t in timings] == ["crashed", "ok"]


def test_runner__database_down__database_probes_skipped():
    ctx = Context(database_ok=False)
    findings, timings = run_probes(
        [Probe("database", "drift", _boom, timeout=1, needs_database=True)], ctx
    )
    assert findings == [] and timings[0]["ran"] == "skipped"


@pytest.mark.postgres
@pytest.mark.django_db
def test_runner__database_probe_stuck__bounded_by_its_timeout():
    def stuck(ctx):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
        return []

    started = time.monotonic()
    (f,), _ = run_probes(
        [Probe("database", "stuck", stuck, timeout=0.5, needs_database=True)], Context()
    )
    assert time.monotonic() - started < 3
    assert f.id == "diagnose.probe_crashed.stuck" and "statement timeout" in f.detail
