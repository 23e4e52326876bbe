from __future__ import annotations

import socket

import pytest
from django.db import connections
from django.db.utils import ConnectionHandler

from railops_django.db import connection as dbconn
from railops_django.report import Severity


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_probe__reachable_database_reports_latency():
    result = dbconn.probe("default")
    assert result.ok and result.latency_ms is not None and result.latency_ms >= 0


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("override", "cause"),
    [
        ({"PORT": "FREE"}, "refused"),
        ({"NAME": "railops_no_such_db"}, "no_database"),
        ({"HOST": "postgres.railway.internal"}, "dns"),
    ],
)
def test_classify__real_postgres_failures(override, cause, monkeypatch):
    settings_dict = dict(connections["default"].settings_dict)
    settings_dict.update(
        {k: (str(_free_port()) if v == "FREE" else v) for k, v in override.items()}
    )
    settings_dict["OPTIONS"] = {"connect_timeout": 2}
    handler = ConnectionHandler({"default": settings_dict})
    monkeypatch.setattr(dbconn, "connections", handler)
    try:
        result = dbconn.probe("default")
        assert not result.ok
        finding = dbconn.failure_finding("default", result.error, "diagnose")
    finally:
        handler.close_all()
    assert finding.id == f"diagnose.connect.{cause}", finding.detail
    assert finding.severity is Severity.CRITICAL and finding.fix
    if cause == "dns":
        assert "only inside Railway at runtime" in finding.fix


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ('FATAL:  password authentication failed for user "app"', "auth"),
        ("FATAL:  sorry, too many clients already / too many connections", "too_many_connections"),
        ("FATAL:  remaining connection slots are reserved", "too_many_connections"),
        ("connection to server failed: SSL required", "ssl"),
        ("connection timeout expired", "timeout"),
        ("unable to open database file", "no_database"),
        ("something else entirely", "other"),
    ],
)
def test_cause_of__driver_messages(message, cause):
    assert dbconn.cause_of(Exception(message), {"HOST": "db", "NAME": "app"}).key == cause


def test_failure_finding__masks_the_password_in_the_error():
    exc = Exception("could not connect to postgres://app:Very-Secret-99@db:5432/app")
    finding = dbconn.failure_finding("default", exc, "x")
    assert "Very-Secret-99" not in finding.detail
