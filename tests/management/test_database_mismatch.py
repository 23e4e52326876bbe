"""DATABASE_URL names another database than DATABASES: diagnose says so, data-changing commands
refuse on Railway (exit 3, one line) unless RAILOPS_ALLOW_DATABASE_MISMATCH=1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connections

from railops_django.db import target
from tests.utils import run_command

pytestmark = pytest.mark.django_db

PASSWORD = "canary-Pa55-in-the-url"


def _elsewhere() -> str:
    """A PostgreSQL URL of another database than the one in use (never connected to)."""
    db = connections["default"].settings_dict
    if connections["default"].vendor == "postgresql":
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        return f"postgres://postgres:{PASSWORD}@{host}:{port}/{db['NAME']}_elsewhere"
    return f"postgres://postgres:{PASSWORD}@postgres.railway.internal:5432/railway"


@pytest.fixture
def mismatched(monkeypatch, tmp_path) -> Path:
    """On Railway, DATABASE_URL names another database; backups would go to tmp_path."""
    monkeypatch.setenv("DATABASE_URL", _elsewhere())
    monkeypatch.delenv("DATABASE_UNPOOLED_URL", raising=False)
    monkeypatch.delenv(target.OVERRIDE, raising=False)
    monkeypatch.setenv("RAILWAY_ENVIRONMENT", "production")
    backups = tmp_path / "backups"
    monkeypatch.setenv("RAILOPS_BACKUP_DIR", str(backups))
    return backups


CHANGES_DATA = [
    ["backup"],
    ["backup", "create", "--format", "json"],
    ["backup", "restore", "--latest", "--noinput"],
    ["backup", "cleanup", "--dry-run"],
    ["backup", "daemon", "--once"],
    ["safe_migrate", "--noinput"],
    ["safe_migrate", "--dry-run", "--format", "json"],
    ["emergency_rollback", "backup", "--noinput"],
    ["emergency_rollback", "recover", "--dry-run"],
    ["railway_deploy", "--dry-run"],
]


@pytest.mark.parametrize("argv", CHANGES_DATA, ids=" ".join)
def test_changes_data__database_url_elsewhere_on_railway__exit_3_one_line(mismatched, argv):
    out, err, code = run_command(*argv)
    assert code == 3 and (
        out == "" or json.loads(out)["exit_code"] == 3
    )  # JSON if the base adds it
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "DATABASE_URL names postgresql" in lines[0] and "DATABASES['default'] is" in lines[0]
    assert f"{target.OVERRIDE}=1" in lines[0] and PASSWORD not in err
    assert not mismatched.exists()  # nothing was written, not even the backup folder


@pytest.mark.parametrize(
    "argv",
    [
        ["backup", "list", "--format", "json"],
        ["emergency_rollback", "guide"],
        ["db_health", "--format", "json"],
    ],
    ids=" ".join,
)
def test_reads_only__database_url_elsewhere__still_runs(mismatched, argv):
    out, err, code = run_command(*argv)
    assert code != 3, err
    assert "refusing" not in err


def test_backup_create__override_for_one_run__backs_up_the_database_in_settings(
    mismatched, monkeypatch
):
    monkeypatch.setenv(target.OVERRIDE, "1")
    out, err, code = run_command("backup", "create", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["status"] != "critical"
    assert any(p.name.endswith(".json") for p in mismatched.iterdir())  # a manifest, committed


def test_backup_create__off_railway__runs(mismatched, monkeypatch):
    monkeypatch.delenv("RAILWAY_ENVIRONMENT")
    _out, err, code = run_command("backup", "create", "--format", "json")
    assert code == 0, err


def test_backup_create__unresolved_reference_on_railway__exit_3_names_the_fix(
    mismatched, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", "${{Postgres.DATABASE_URL}}")
    _out, err, code = run_command("backup", "create")
    assert code == 3 and len(err.splitlines()) == 1
    assert "unresolved Railway reference" in err and "${{Postgres.DATABASE_URL}}" in err
    assert not mismatched.exists()


def test_railway_diagnose__database_url_elsewhere__critical_in_the_top_three(mismatched):
    out, _err, code = run_command("railway_diagnose", "--format", "json", "--skip-requests")
    report = json.loads(out)
    top = [f["id"] for f in report["findings"][:3]]
    assert "diagnose.env.database_mismatch" in top, top
    found = next(f for f in report["findings"] if f["id"] == "diagnose.env.database_mismatch")
    assert found["severity"] == "critical" and code == 2
    assert found["data"]["named"].startswith("postgresql ") and "dj_database_url" in found["fix"]
    assert PASSWORD not in out


def test_railway_diagnose__database_url_is_the_database_in_use__no_finding(monkeypatch):
    db = connections["default"].settings_dict
    if connections["default"].vendor == "postgresql":
        url = f"postgres://{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    monkeypatch.setenv("DATABASE_URL", url)
    out, _err, _code = run_command("railway_diagnose", "--format", "json", "--skip-requests")
    ids = {f["id"] for f in json.loads(out)["findings"]}
    assert "diagnose.env.database_mismatch" not in ids
