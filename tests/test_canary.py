"""A canary password, planted in DATABASE_URL and in settings, must appear nowhere we write.

Every railops command runs in a fresh process (as a user runs it) with the railops logger at
DEBUG on stderr; stdout, stderr and every file it writes are searched for the canary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connections

from railops_django.models import Release
from tests.utils import ROOT, run_manage

# The commands run against the test database: pytest-django sets one up only for tests that
# ask for database access, so without this mark a canary run on its own used the project's own
# database (example_project/db.sqlite3). transaction=True: the subprocesses see committed data,
# and the flush after each test removes what they wrote.
pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "Canary-Pw-7f3a9-Ω"
ENCODED = quote(CANARY, safe="")

# Extra argument sets per command; each command also runs with no arguments and with --format json.
COMMAND_RUNS: dict[str, list[list[str]]] = {
    "railops_selftest": [["--leak"], ["--leak", "--format", "json"], ["--crash"]],
    "railway_diagnose": [["--url", "/admin/login/"], ["--skip-requests", "--format", "json"]],
    "db_health": [["--format", "openmetrics"], ["--alert"]],
    "safe_migrate": [["--dry-run", "--force"], ["--force", "--noinput", "--format", "json"]],
    "backup": [["list"], ["report"], ["verify", "--latest"], ["cleanup", "--dry-run"]],
    "emergency_rollback": [
        ["assess"],
        ["assess", "--format", "json"],
        ["backup"],
        ["guide", "--format", "json"],
        ["recover", "--dry-run"],
    ],
    "railway_deploy": [["--dry-run", "--format", "json"], ["--history"]],
}


def _railops_commands() -> list[str]:
    names = [p.stem for p in (ROOT / "railops_django/management/commands").glob("[!_]*.py")]
    return [*sorted(names), "railops_selftest"]


def _runs() -> list[tuple[str, list[str]]]:
    return [
        (name, args)
        for name in _railops_commands()
        for args in [[], ["--format", "json"], *COMMAND_RUNS.get(name, [])]
    ]


@pytest.fixture
def canary_env(tmp_path, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        db = connections["default"].settings_dict
    if connections["default"].vendor == "postgresql":
        url = f"postgres://{db['USER'] or 'postgres'}:{ENCODED}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    yield {
        "DATABASE_URL": url,
        "DATABASE_UNPOOLED_URL": f"postgresql://postgres:{ENCODED}@127.0.0.1:5432/postgres",
        "SECRET_KEY": f"{CANARY}-a-long-secret-key-for-the-canary-test-0123456789abcdef",
        "RAILOPS_ALERT_WEBHOOK_URL": f"http://127.0.0.1:9/hooks/{ENCODED}",
        "RAILOPS_BACKUP_DIR": str(tmp_path / "backups"),
        "RAILOPS_LOG_LEVEL": "DEBUG",
        "PGPASSWORD": CANARY,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "example_project")]),
    }
    # The commands ran for real against the shared test database: leave no release behind.
    with django_db_blocker.unblock():
        Release.objects.all().delete()


def _leaks(text: str) -> bool:
    return CANARY in text or ENCODED in text


@pytest.mark.parametrize(
    ("command", "args"), _runs(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_canary__absent_from_stdout_stderr_logs_and_files(command, args, canary_env, tmp_path):
    proc = run_manage(command, *args, "--settings", "tests.settings", env=canary_env)
    assert proc.returncode in (0, 1, 2, 3), proc.stderr[-2000:]
    assert not _leaks(proc.stdout), f"canary in stdout of {command} {args}"
    assert not _leaks(proc.stderr), f"canary in stderr of {command} {args}"
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert not _leaks(path.read_bytes().decode("utf-8", "replace")), f"canary in {path}"


def test_canary__the_selftest_really_tried_to_leak(canary_env):
    proc = run_manage("railops_selftest", "--leak", "--settings", "tests.settings", env=canary_env)
    assert "secrets" in proc.stdout and "********" in proc.stdout


_BROKEN_SETTINGS = (
    "import os\n"
    "from config.settings import *  # noqa: F403\n"
    'PAYMENT_API_KEY = os.environ["PAYMENT_API_KEY"]\n'
    "raise RuntimeError(f\"cannot reach {os.environ['DATABASE_URL']} as {SECRET_KEY}\")\n"
)


@pytest.mark.parametrize(
    "args",
    [["--format", "json"], ["--skip-requests"], ["--skip-requests", "--format", "json"]],
    ids=" ".join,
)
@pytest.mark.parametrize("settings_module", ["tests.settings", "canary_broken_settings"])
def test_canary__python_m_diagnose__absent_from_output_and_report_file(
    settings_module, args, canary_env, tmp_path
):
    (tmp_path / "canary_broken_settings.py").write_text(_BROKEN_SETTINGS)
    env = {**canary_env, "PAYMENT_API_KEY": CANARY}
    env["PYTHONPATH"] = os.pathsep.join([canary_env["PYTHONPATH"], str(tmp_path)])
    report_file = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "railops_django", "diagnose", "--settings", settings_module,
         "--output", str(report_file), *args],
        capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path, timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1, 2), proc.stderr[-2000:]
    if "json" in args:
        json.loads(proc.stdout)
    json.loads(report_file.read_text())
    assert not _leaks(proc.stdout) and not _leaks(proc.stderr)
    for path in Path(tmp_path).rglob("*"):
        if path.is_file() and path.suffix != ".py":
            assert not _leaks(path.read_bytes().decode("utf-8", "replace")), f"canary in {path}"


WEB_VISIT = """
from django.contrib.auth import get_user_model
from django.test import Client
from railops_django.health import history
from railops_django import health
history.record(health.run("default", include_container=False), "default")
staff = get_user_model().objects.create_superuser("canary-ops", password="pw-canary-ops-1")
token = {"HTTP_AUTHORIZATION": "Bearer tok-canary-0123456789", "HTTP_HOST": "localhost"}
anonymous, signed_in = Client(), Client()
signed_in.force_login(staff)
for path in ("/railops/health/", "/railops/health/live/", "/railops/metrics/"):
    for client in (anonymous, signed_in):
        print(client.get(path, **token).content.decode())
for path in ("/railops/", "/railops/releases/", "/railops/backups/", "/railops/database/",
             "/railops/history/?range=30d"):
    response = signed_in.get(path, HTTP_HOST="localhost")
    assert response.status_code == 200, (path, response.status_code)
    print(response.content.decode())
print("visited")
"""


def test_canary__absent_from_every_web_view(canary_env, tmp_path):
    """The health gate (with and without the token), metrics and every dashboard page, as a
    staff user and anonymously, in a fresh process with the canary planted."""
    env = {**canary_env, "RAILOPS_HEALTH_TOKEN": "tok-canary-0123456789", "DEBUG": "False"}
    proc = run_manage("shell", "-c", WEB_VISIT, "--settings", "tests.settings", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "visited" in proc.stdout and "railops_status" in proc.stdout
    assert not _leaks(proc.stdout), "canary in a web view"
    assert not _leaks(proc.stderr), "canary on stderr of the web views"
