"""example_project's settings, as real subprocesses: an unresolved Railway reference or an empty
DATABASE_URL fails loudly (one ImproperlyConfigured line) instead of falling back to SQLite or the
public example key; without DATABASE_URL the Quickstart still runs on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.health.test_quiet_and_stable import _env, _manage
from tests.utils import EXAMPLE


@pytest.mark.parametrize(
    ("variable", "reference"),
    [
        ("DATABASE_URL", "${{Postgres.DATABASE_URL}}"),  # would have become SQLite
        ("SECRET_KEY", "${{shared.SECRET_KEY}}"),  # would have become the public example key
    ],
)
def test_example_settings__unresolved_reference__one_clear_line_and_nothing_done(
    tmp_path, variable, reference
):
    proc = _manage(_env(tmp_path, **{variable: reference}), "backup", "create", timeout=60)
    assert proc.returncode != 0 and proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if "ImproperlyConfigured:" in line]
    assert len(lines) == 1 and proc.stderr.rstrip().endswith(lines[0])
    assert f"{variable} is an unresolved Railway reference" in lines[0]
    assert "${{Postgres.DATABASE_URL}}" in lines[0] and "redeploy" in lines[0]
    assert not (tmp_path / "backups").exists()  # no SQLite backup in the PostgreSQL folder


def test_example_settings__empty_database_url__one_clear_line(tmp_path):
    proc = _manage(_env(tmp_path, DATABASE_URL=""), "check", timeout=60)
    assert proc.returncode != 0
    assert "ImproperlyConfigured: DATABASE_URL is set but empty" in proc.stderr.splitlines()[-1]


def test_example_settings__unresolved_database_url__python_m_diagnose_says_critical(tmp_path):
    env = _env(
        tmp_path,
        DATABASE_URL="${{Postgres.DATABASE_URL}}",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "railops_django", "diagnose", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=EXAMPLE,
        timeout=120,
    )
    report = json.loads(proc.stdout)
    top = report["findings"][:3]
    assert all(f["severity"] == "critical" for f in top[:2]) and proc.returncode == 2
    assert {"diagnose.env.unresolved_reference", "diagnose.env.settings_import"} <= {
        f["id"] for f in top
    }


def test_example_settings__quickstart_without_database_url__sqlite_still_works(tmp_path):
    proc = _manage(_env(tmp_path), "check", timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = _manage(
        _env(tmp_path),
        "shell",
        "--verbosity",
        "0",
        "-c",
        "from django.db import connection; print(connection.vendor, connection.settings_dict['NAME'])",
        timeout=60,
    )
    assert proc.stdout.split() == ["sqlite", str(EXAMPLE / "db.sqlite3")], proc.stderr
