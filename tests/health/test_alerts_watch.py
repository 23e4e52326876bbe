"""--alert against a real HTTP server on 127.0.0.1, and --watch (in-process and by signal)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from railops_django import health
from railops_django.health import alerts
from railops_django.health.watch import changes, watch
from railops_django.report import Report, Severity
from tests.utils import EXAMPLE, ROOT, run_command

SECRET = "Alert-Canary-Pw-93kd"
HOOK_TOKEN = "T000/B000/HookToken-x81"


class _Hook:
    def __init__(self, statuses: list[int]) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        statuses = list(statuses)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                hook.paths.append(self.path)
                status = statuses.pop(0) if statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/{HOOK_TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _report_with_secret() -> Report:
    report = Report("db_health")
    report.add(
        "health.pg.long_query",
        Severity.CRITICAL,
        "Longest running query: 6.5 s",
        detail=f"pid 42 runs: SELECT * FROM t WHERE url = 'postgres://app:{SECRET}@db/x'",
        fix="SELECT pg_cancel_backend(42);",
        value=6.5,
        threshold=[1, 5],
        unit="s",
    )
    report.add("health.pg.deadlocks", Severity.OK, "Deadlocks: 0", value=0)
    return report


def test_alert__posts_masked_slack_and_discord_body_after_one_retry(monkeypatch):
    monkeypatch.setenv("APP_API_TOKEN", SECRET)
    with _Hook([503]) as hook:
        outcome = alerts.post(
            _report_with_secret(), url=hook.url, min_severity="warning", backoff=0
        )
    assert outcome.id == "health.alert.sent" and outcome.data["attempts"] == 2
    assert len(hook.bodies) == 2 and hook.paths[0] == f"/services/{HOOK_TOKEN}"
    body = hook.bodies[-1]
    assert body["text"].startswith("db_health: CRITICAL") and body["content"] == body["text"]
    assert "Longest running query" in body["text"] and "pg_cancel_backend(42)" in body["text"]
    assert [f["id"] for f in body["findings"]] == [
        "health.pg.long_query"
    ]  # below warning: not sent
    assert body["findings"][0]["value"] == 6.5 and body["findings"][0]["threshold"] == [1, 5]
    raw = json.dumps(body)
    assert SECRET not in raw and "HookToken" not in raw
    assert HOOK_TOKEN not in outcome.title + outcome.detail


def test_alert__server_keeps_failing__bounded_retries_then_warning():
    with _Hook([500, 500, 500, 500]) as hook:
        started = time.monotonic()
        outcome = alerts.post(
            _report_with_secret(), url=hook.url, min_severity="info", retries=2, backoff=0.01
        )
    assert outcome.id == "health.alert.failed" and outcome.severity is Severity.WARNING
    assert len(hook.bodies) == 3 and outcome.data["attempts"] == 3
    assert time.monotonic() - started < 5 and "HTTP 500" in outcome.title
    assert HOOK_TOKEN not in outcome.title


def test_alert__client_error__no_retry():
    with _Hook([404]) as hook:
        outcome = alerts.post(_report_with_secret(), url=hook.url, min_severity="info", backoff=0)
    assert outcome.id == "health.alert.failed" and len(hook.bodies) == 1


def test_alert__nothing_at_or_above_the_minimum__nothing_posted():
    report = Report("db_health")
    report.add("health.x", Severity.INFO, "fine")
    with _Hook([]) as hook:
        outcome = alerts.post(report, url=hook.url, min_severity="warning")
    assert outcome.id == "health.alert.nothing" and hook.bodies == []


@pytest.mark.django_db
def test_command__alert__posts_to_the_configured_webhook(settings, caplog):
    with _Hook([]) as hook:
        settings.RAILOPS = {
            "ALERT_WEBHOOK_URL": hook.url,
            "ALERT_MIN_SEVERITY": "info",
            "THRESHOLDS": {"latency_ms": [0, 0.000001]},  # makes the latency critical
        }
        out, err, code = run_command("db_health", "--alert")
    assert code == 2 and "Alert sent to 127.0.0.1" in out
    assert len(hook.bodies) == 1 and "health.db.latency" in [
        f["id"] for f in hook.bodies[0]["findings"]
    ]
    assert HOOK_TOKEN not in out + err
    # the same findings went to the railops logger
    assert any(
        "health.db.latency" in r.getMessage() and r.name == "railops" for r in caplog.records
    )


def test_changes__new_cleared_severity_and_value():
    a, b = Report("db_health"), Report("db_health")
    a.add("x.same", Severity.OK, "s", value=10)
    a.add("x.gone", Severity.WARNING, "g")
    a.add("x.worse", Severity.OK, "w")
    b.add("x.same", Severity.OK, "s", value=20)
    b.add("x.worse", Severity.CRITICAL, "w")
    b.add("x.new", Severity.INFO, "n")
    got = {c["id"]: c for c in changes(a, b)}
    assert got["x.same"] == {"id": "x.same", "change": "value", "was": 10, "now": 20}
    assert got["x.gone"]["change"] == "cleared" and got["x.new"]["change"] == "new"
    assert got["x.worse"] == {"id": "x.worse", "change": "severity", "was": "ok", "now": "critical"}
    assert changes(None, b) == []


def test_watch__max_iterations__emits_each_and_returns_a_closing_report():
    emitted: list[Report] = []
    values = iter([1, 5, 5])

    def build() -> Report:
        r = Report("db_health")
        r.add("health.pg.long_query", Severity.OK, "q", value=next(values))
        return r

    closing = watch(build, 0.01, emitted.append, max_iterations=3)
    assert [r.extras["watch"]["iteration"] for r in emitted] == [1, 2, 3]
    assert emitted[1].extras["changes"][0]["now"] == 5 and emitted[2].extras["changes"] == []
    assert closing.findings[0].id == "health.watch.stopped" and closing.exit_code == 0


@pytest.mark.django_db
def test_health_watch__runs_the_real_measurement_twice():
    emitted: list[Report] = []
    closing = health.watch("default", 0.05, emitted.append, max_iterations=2)
    assert len(emitted) == 2 and "changes" in emitted[1].extras
    assert (
        "3 iteration" not in closing.findings[0].title
        and "2 iteration" in closing.findings[0].title
    )


def test_command__watch__sigterm_stops_cleanly(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLE)]),
        "RAILOPS_BACKUP_DIR": str(tmp_path / "backups"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE / "manage.py"),
            "db_health",
            "--watch",
            "1",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=EXAMPLE,
    )
    try:
        first = proc.stdout.readline()  # JSON is indented: wait for the first object's start
        assert first.startswith("{")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Watch stopped by SIGTERM" in out and "Traceback" not in err


@pytest.mark.django_db
def test_watch_with_alert__same_findings__posted_once(settings):
    with _Hook([]) as hook:
        settings.RAILOPS = {
            "ALERT_WEBHOOK_URL": hook.url,
            "ALERT_MIN_SEVERITY": "critical",
            "THRESHOLDS": {"latency_ms": [0, 0.000001]},
        }
        emitted: list[Report] = []
        health.watch("default", 0.01, emitted.append, max_iterations=2, alert=True)
    assert len(hook.bodies) == 1
    assert "health.alert.sent" in {f.id for f in emitted[0].findings}
    assert "health.alert.unchanged" in {f.id for f in emitted[1].findings}
