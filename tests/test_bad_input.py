"""The bad-input contract, over every command (DESIGN.md, issue 13).

Bad input (a RAILOPS setting, an environment variable, a flag, a name, no terminal) exits 3 with
exactly one line on stderr; a failed database connection exits 2 with the classified finding and,
with --format json, one JSON object on stdout. Nothing ever prints a traceback.

Most cases run in-process through ``run_command`` (parsed as manage.py parses them, system checks
included); a representative subset runs ``manage.py`` in a real process, where Django's own
check machinery and argv handling are the real ones.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.utils import load_backend

from railops_django.management.base import wants_json
from tests.utils import EXAMPLE, ROOT, run_command, run_manage

# One invocation of every command and action; each is harmless when it does run.
EVERY_COMMAND: list[tuple[str, ...]] = [
    ("db_health",),
    ("safe_migrate", "--dry-run"),
    ("backup", "create", "--dry-run"),
    ("backup", "list"),
    ("backup", "report"),
    ("backup", "verify", "--latest"),
    ("backup", "restore", "--latest", "--dry-run"),
    ("backup", "cleanup", "--dry-run"),
    ("backup", "daemon", "--once"),
    ("emergency_rollback", "assess"),
    ("emergency_rollback", "guide"),
    ("emergency_rollback", "backup"),
    ("emergency_rollback", "recover", "--dry-run"),
    ("railway_deploy", "--dry-run"),
    ("railway_deploy", "--history"),
]
# railway_diagnose folds system checks into its own report (issue 13, "diagnose"), so a bad
# setting is a finding there, not exit 3; it is in every other part of the matrix.
WITH_DIAGNOSE = [*EVERY_COMMAND, ("railway_diagnose", "--skip-requests")]


def _id(argv: tuple[str, ...]) -> str:
    return " ".join(argv)


def assert_contract(out: str, err: str, code: int, *, json_format: bool) -> None:
    """What every run, good or bad, must keep."""
    assert "Traceback" not in out + err, err
    if code == 3:
        assert len(err.strip().splitlines()) == 1, err
    if json_format:
        data = json.loads(out)  # exactly one JSON object, whatever happened
        assert isinstance(data, dict) and data["exit_code"] == code, data
        if code == 3:
            assert data["findings"][0]["title"] == err.strip()
    elif code == 3:
        assert out == "", out


def run(*argv: str) -> tuple[str, str, int]:
    """run_command, with the contract checked on every run."""
    out, err, code = run_command(*argv)
    assert_contract(out, err, code, json_format=wants_json(list(argv)))
    return out, err, code


def assert_cannot_run(out: str, err: str, code: int, *fragments: str) -> str:
    assert code == 3, (code, out, err)
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# --- RAILOPS settings and RAILOPS_* environment variables ---------------------------------------

INF = math.inf
BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"CONNECT_TIMEOUT": INF}, "CONNECT_TIMEOUT"),
    ({"CONNECT_TIMEOUT": float("1e400")}, "CONNECT_TIMEOUT"),
    ({"CONNECT_TIMEOUT": math.nan}, "CONNECT_TIMEOUT"),
    ({"CONNECT_TIMEOUT": -1}, "CONNECT_TIMEOUT"),
    ({"CONNECT_TIMEOUT": "5"}, "CONNECT_TIMEOUT"),
    ({"BACKUP_COMPRESSION_LEVEL": 10**12}, "BACKUP_COMPRESSION_LEVEL"),
    ({"BACKUP_COMPRESSION_LEVEL": 0}, "BACKUP_COMPRESSION_LEVEL"),
    ({"BACKUP_SPECIAL_RETENTION_DAYS": 10**10}, "BACKUP_SPECIAL_RETENTION_DAYS"),
    ({"BACKUP_RETENTION": {"daily": 10**9}}, "BACKUP_RETENTION"),
    ({"THRESHOLDS": {"latency_ms": [math.nan, 1000]}}, "THRESHOLDS"),
    ({"THRESHOLDS": {"latency_ms": [5, 1]}}, "THRESHOLDS"),
    ({"THRESHOLDS": {"cache_hit_ratio_pct": [90, 99]}}, "THRESHOLDS"),
    ({"LOCK_TIMEOUT_MS": 99_999_999_999}, "LOCK_TIMEOUT_MS"),
    ({"BACKUP_RETENSION": {"daily": 1}}, "BACKUP_RETENSION"),
]
MORE_BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"CONNECT_TIMEOUT": True}, "CONNECT_TIMEOUT"),
    ({"BACKUP_COMPRESSION_LEVEL": 23}, "BACKUP_COMPRESSION_LEVEL"),
    ({"BACKUP_COMPRESSION_LEVEL": 3.0}, "BACKUP_COMPRESSION_LEVEL"),
    ({"BACKUP_RETENTION": {"daily": -1}}, "BACKUP_RETENTION"),
    ({"BACKUP_RETENTION": "7"}, "BACKUP_RETENTION"),
    ({"THRESHOLDS": {"latency_ms": [INF, INF]}}, "THRESHOLDS"),
    ({"THRESHOLDS": {"disk_pct": [80, 150]}}, "THRESHOLDS"),
    ({"THRESHOLDS": {"disk_pct": [-5, 90]}}, "THRESHOLDS"),
    ({"THRESHOLDS": {"disk_pct": [10**400, 90]}}, "THRESHOLDS"),
    ({"MIGRATION_RETRIES": 10**6}, "MIGRATION_RETRIES"),
    ({"MIGRATION_LOCK_WAIT": INF}, "MIGRATION_LOCK_WAIT"),
    ({"STATEMENT_TIMEOUT_MS": -1}, "STATEMENT_TIMEOUT_MS"),
    ({"BACKUP_MAX_AGE": math.nan}, "BACKUP_MAX_AGE"),
    ({"BACKUP_MIN_GOOD": 10**9}, "BACKUP_MIN_GOOD"),
    ({"BACKUP_NATIVE_WORKERS": 0}, "BACKUP_NATIVE_WORKERS"),
    ({"BACKUP_EXACT_COUNT_LIMIT": -1}, "BACKUP_EXACT_COUNT_LIMIT"),
    ({"BACKUP_ENGINE": "tarball"}, "BACKUP_ENGINE"),
    ({"BACKUP_STORAGES": ["default", 3]}, "BACKUP_STORAGES"),
    ({"ALERT_MIN_SEVERITY": "loud"}, "ALERT_MIN_SEVERITY"),
    ({"BACKUP_DIR": "backups"}, "BACKUP_DIR"),
]
BAD_ENV: list[tuple[str, str]] = [
    ("RAILOPS_CONNECT_TIMEOUT", "abc"),
    ("RAILOPS_CONNECT_TIMEOUT", "inf"),
    ("RAILOPS_CONNECT_TIMEOUT", "nan"),
    ("RAILOPS_CONNECT_TIMEOUT", "1e400"),
    ("RAILOPS_CONNECT_TIMEOUT", "-5"),
    ("RAILOPS_BACKUP_COMPRESSION_LEVEL", "1000000000000"),
    ("RAILOPS_BACKUP_COMPRESSION_LEVEL", "3.5"),
    ("RAILOPS_BACKUP_SPECIAL_RETENTION_DAYS", "10000000000"),
    ("RAILOPS_MIGRATION_RETRIES", "five"),
    ("RAILOPS_LOCK_TIMEOUT_MS", "99999999999"),
    ("RAILOPS_BACKUP_ENGINE", "tarball"),
    ("RAILOPS_BACKUP_STORAGES", "[1, 2]"),
    ("RAILOPS_BACKUP_MAX_AGE", "9" * 5000),
    ("RAILOPS_BACKUP_DIR", "backups"),
    ("RAILOPS_BACKUP_DIR", "/data/back\nups"),
]


@pytest.fixture
def railops(settings):
    """Set RAILOPS on top of the project's own value."""
    base = dict(settings.RAILOPS)

    def apply(extra: dict[str, Any]) -> None:
        settings.RAILOPS = {**base, **extra}

    return apply


def _settings_line(err: str, key: str) -> None:
    assert key in err and "railops.E00" in err and "manage.py check" in err, err


@pytest.mark.parametrize("argv", EVERY_COMMAND, ids=_id)
@pytest.mark.parametrize(("value", "key"), BAD_SETTINGS, ids=[k for _, k in BAD_SETTINGS])
def test_bad_setting__every_command__exit_3_one_line_naming_key_and_id(argv, value, key, railops):
    railops(value)
    out, err, code = run(*argv, "--format", "json")
    _settings_line(assert_cannot_run(out, err, code), key)


@pytest.mark.parametrize(("value", "key"), MORE_BAD_SETTINGS, ids=[k for _, k in MORE_BAD_SETTINGS])
def test_bad_setting__more_kinds__exit_3_one_line(value, key, railops):
    railops(value)
    out, err, code = run("db_health", "--format", "json")
    _settings_line(assert_cannot_run(out, err, code), key)


@pytest.mark.parametrize("argv", EVERY_COMMAND[:8], ids=_id)
@pytest.mark.parametrize(("name", "raw"), BAD_ENV, ids=[f"{n}={r[:12]}" for n, r in BAD_ENV])
def test_bad_environment_value__exit_3_one_line_naming_the_variable(argv, name, raw, monkeypatch):
    monkeypatch.setenv(name, raw)
    out, err, code = run(*argv)
    assert_cannot_run(out, err, code, name, "railops.E004")
    assert len(err) < 1000, "a 5000-digit value is not echoed whole"


def test_railops_not_a_dict__exit_3_e001(settings):
    settings.RAILOPS = ["BACKUP_DIR"]
    out, err, code = run("backup", "list")
    assert_cannot_run(out, err, code, "RAILOPS must be a dict", "railops.E001")


def test_several_bad_settings__first_named_and_the_rest_counted(railops):
    railops({"CONNECT_TIMEOUT": INF, "BACKUP_COMPRESSION_LEVEL": 99, "NOPE": 1})
    out, err, code = run("db_health")
    assert_cannot_run(out, err, code, "(2 more)", "manage.py check")


@pytest.mark.parametrize(
    ("argv", "value", "key"),
    [
        (("db_health",), {"CONNECT_TIMEOUT": INF}, "CONNECT_TIMEOUT"),
        (("db_health",), {"THRESHOLDS": {"latency_ms": [5, 1]}}, "THRESHOLDS"),
        (("backup", "cleanup", "--dry-run"), {"BACKUP_SPECIAL_RETENTION_DAYS": 10**10}, "DAYS"),
        (("safe_migrate", "--dry-run"), {"LOCK_TIMEOUT_MS": 10**11}, "LOCK_TIMEOUT_MS"),
    ],
    ids=["timeout", "thresholds", "retention", "lock"],
)
@pytest.mark.django_db
def test_bad_setting__checks_skipped__the_value_is_still_refused_when_read(
    argv, value, key, railops
):
    railops(value)
    out, err, code = run(*argv, "--skip-checks")
    _settings_line(assert_cannot_run(out, err, code), key)


def test_another_apps_check_error__exit_3_one_line_pointing_at_check(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["myapp.up.railway.app"]
    out, err, code = run("backup", "list", "--format", "json")
    assert_cannot_run(out, err, code, "4_0.E001", "manage.py check", "--skip-checks")


@pytest.mark.parametrize("argv", EVERY_COMMAND[:6], ids=_id)
def test_checks_that_crash__urlconf_missing_module__exit_3_one_line(argv, settings):
    settings.ROOT_URLCONF = "no_such_module.urls"
    out, err, code = run(*argv, "--format", "json")
    assert_cannot_run(out, err, code, "system checks could not run", "no_such_module")


def test_check_command__still_lists_railops_problems_as_system_checks(railops):
    railops({"CONNECT_TIMEOUT": INF})
    out, err, code = run("check")
    assert code == 1 and "railops.E003" in err and "CONNECT_TIMEOUT" in err


# --- command-line flags -------------------------------------------------------------------------

BAD_FLAGS: list[tuple[str, ...]] = [
    *(("db_health", "--watch", v) for v in ("nan", "inf", "1e400", "0", "-1", "abc", "86401")),
    *(
        ("safe_migrate", "--lock-timeout", v)
        for v in ("99999999999", "-1", "nan", "1.5", "abc", "1e3")
    ),
    *(("safe_migrate", "--statement-timeout", v) for v in ("-1", "1e400", "99999999999")),
    *(("safe_migrate", "--retries", v) for v in ("1000", "-1", "x")),
    *(
        ("emergency_rollback", "recover", "--to-release", v)
        for v in ("0", "-1", "abc", "1e400", "99999999999999999999")
    ),
    *((*argv, "--format", "yaml") for argv in WITH_DIAGNOSE),
    *((*argv, "--database", "nosuch") for argv in WITH_DIAGNOSE),
    ("db_health", "--no-such-flag"),
    ("backup", "frobnicate"),
    ("emergency_rollback", "frobnicate"),
    ("emergency_rollback",),
    ("backup", "list", "some-name"),
    ("backup", "verify"),
    ("backup", "restore"),
    ("emergency_rollback", "assess", "--backup", "x"),
    ("emergency_rollback", "recover", "--to-release", "1", "--backup", "x"),
    ("db_health", "--alert"),
    ("railway_deploy", "--no-such-flag"),
    ("safe_migrate", "--allow-unsafe"),
]


@pytest.mark.parametrize(
    ("argv", "as_json"),
    [
        pytest.param(argv, as_json, id=_id(argv) + (" +json" if as_json else ""))
        for argv in BAD_FLAGS
        for as_json in (False, True)
        if not (as_json and "--format" in argv)  # those cases are about --format itself
    ],
)
@pytest.mark.django_db
def test_bad_flag__exit_3_one_line(argv, as_json, settings):
    settings.RAILOPS = {**settings.RAILOPS, "ALERT_WEBHOOK_URL": ""}
    out, err, code = run(*argv, *(["--format", "json"] if as_json else []))
    assert_cannot_run(out, err, code)


def test_watch_nan__refused_before_any_measurement():
    out, err, code = run("db_health", "--watch", "nan")
    assert_cannot_run(out, err, code, "--watch", "finite")


# --- names and confirmations --------------------------------------------------------------------


@pytest.fixture
def backup_dir(tmp_path, railops):
    path = tmp_path / "backups"
    railops({"BACKUP_DIR": str(path)})
    return path


def _files(path: Path) -> list[str]:
    return sorted(p.name for p in path.rglob("*") if p.is_file()) if path.exists() else []


@pytest.mark.parametrize(
    "argv",
    [
        ("backup", "verify", "nosuch"),
        ("backup", "verify", "nosuch", "--restore-test"),
        ("backup", "restore", "nosuch"),
        ("backup", "restore", "nosuch", "--dry-run"),
        ("backup", "restore", "nosuch", "--noinput"),
        ("backup", "restore", "../../etc/passwd", "--noinput"),
        ("emergency_rollback", "recover", "--backup", "nosuch", "--dry-run"),
        ("emergency_rollback", "recover", "--backup", "nosuch", "--noinput"),
        ("emergency_rollback", "recover", "--backup", "nosuch"),
    ],
    ids=_id,
)
@pytest.mark.django_db
def test_unknown_backup_name__refused_before_anything_is_done(argv, backup_dir):
    out, err, code = run(*argv, "--format", "json")
    assert_cannot_run(out, err, code, "no backup named")
    assert _files(backup_dir) == [], "no emergency or safety backup was taken"


@pytest.fixture
def one_backup(backup_dir, transactional_db) -> str:
    from railops_django import backup

    return backup.create().name


@pytest.mark.parametrize(
    "argv",
    [("backup", "restore", "{name}"), ("emergency_rollback", "recover", "--backup", "{name}")],
    ids=["restore", "recover"],
)
def test_confirmation_without_terminal__exit_3_use_noinput_nothing_done(
    argv, one_backup, backup_dir
):
    before = _files(backup_dir)
    out, err, code = run(*(a.format(name=one_backup) for a in argv))
    assert_cannot_run(out, err, code, "--noinput")
    assert _files(backup_dir) == before


# --- connection failures ------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def _postgres(**changes: Any) -> dict[str, Any]:
    base = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "railops_contract_no_such_db",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "OPTIONS": {"connect_timeout": 2},
    }
    return {**base, **changes}


needs_server = pytest.mark.skipif(not _server_up(), reason="no PostgreSQL on 127.0.0.1:5432")
FAILURES = [
    pytest.param(lambda: _postgres(PORT=str(_closed_port())), "refused", id="refused"),
    pytest.param(lambda: _postgres(HOST="db.invalid"), "dns", id="dns"),
    pytest.param(
        lambda: {"ENGINE": "django.db.backends.sqlite3", "NAME": "/no/such/dir/db.sqlite3"},
        "no_database",
        id="sqlite-no-dir",
    ),
    pytest.param(_postgres, "no_database", id="missing-db", marks=needs_server),
    pytest.param(
        lambda: _postgres(NAME="postgres", USER="railops_contract_no_such_role"),
        "auth",
        id="unknown-role",
        marks=needs_server,
    ),
]


@contextmanager
def broken_default(settings_dict: dict[str, Any], django_db_blocker: Any) -> Iterator[None]:
    """``connections['default']`` swapped for one that cannot connect, as every module sees it."""
    configured = connections.configure_settings({"default": settings_dict})["default"]
    original = connections["default"]
    original_settings = connections.settings["default"]
    broken = load_backend(configured["ENGINE"]).DatabaseWrapper(configured, "default")
    connections["default"] = broken
    connections.settings["default"] = configured
    try:
        with django_db_blocker.unblock():
            yield
    finally:
        broken.close()
        connections["default"] = original
        connections.settings["default"] = original_settings


# Commands that must connect: a failure is exit 2 with the classified finding.
MUST_CONNECT = [
    ("db_health",),
    ("safe_migrate", "--dry-run"),
    ("safe_migrate", "--noinput"),
    ("backup", "create"),
    ("backup", "create", "--dry-run"),
    ("emergency_rollback", "assess"),
    ("emergency_rollback", "backup"),
    ("railway_deploy",),
    ("railway_deploy", "--dry-run"),
    ("railway_diagnose", "--skip-requests"),
]
# Commands that may not need the database (the catalog is files), or refuse first for another
# reason (no backup of this database): any code, but the contract holds, and when they report
# a connection failure it is the classified one.
MAY_NOT_CONNECT = [
    ("backup", "list"),
    ("backup", "report"),
    ("backup", "verify", "--latest", "--restore-test"),
    ("backup", "restore", "--latest", "--noinput"),
    ("backup", "cleanup"),
    ("emergency_rollback", "recover", "--noinput"),
    ("railway_deploy", "--history"),
]


@pytest.mark.parametrize("argv", MUST_CONNECT + MAY_NOT_CONNECT, ids=_id)
@pytest.mark.parametrize(("make", "cause"), FAILURES)
def test_connection_failure__classified_finding_exit_2_valid_json(
    argv, make, cause, backup_dir, django_db_blocker, monkeypatch
):
    monkeypatch.delenv("DATABASE_URL", raising=False)  # diagnose compares it with DATABASES
    with broken_default(make(), django_db_blocker):
        out, err, code = run(*argv, "--format", "json")
    assert_contract(out, err, code, json_format=True)
    missing_file = code == 3 and "SQLite database file" in err  # a prerequisite, said as such
    if argv in MUST_CONNECT and not missing_file:
        assert code == 2, (code, out, err)
        ids = [f["id"] for f in json.loads(out)["findings"]]
        assert any(i.endswith(f"connect.{cause}") for i in ids[:3]), ids
    elif code != 3:
        connect = [f["id"] for f in json.loads(out)["findings"] if ".connect." in f["id"]]
        assert all(i.endswith(f"connect.{cause}") for i in connect), connect
        assert code == 2 or not connect


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ('FATAL:  password authentication failed for user "app"', "auth"),
        ('FATAL:  role "app" is not permitted to log in', "auth"),
        ('FATAL:  role "nobody" does not exist', "auth"),
        ("FATAL:  sorry, too many clients already", "too_many_connections"),
        ('FATAL:  database "app" does not exist', "no_database"),
    ],
)
def test_connection_failure__driver_messages_are_classified(message, cause):
    from django.db import OperationalError

    from railops_django.db.connection import connection_failure

    try:
        raise OperationalError(message)
    except OperationalError as exc:
        finding = connection_failure(exc, "default", "backup")
    assert finding is not None and finding.id == f"backup.connect.{cause}"


@pytest.mark.parametrize(
    "message",
    ["canceling statement due to lock timeout", 'relation "shop_x" does not exist', "disk full"],
)
def test_database_error_that_is_not_a_connection_failure__stays_an_error(message):
    from django.db import OperationalError

    from railops_django.db.connection import connection_failure

    assert connection_failure(OperationalError(message), "default", "backup") is None
    assert connection_failure(RuntimeError("connection refused"), "default", "backup") is None


# --- real processes: Django's own check machinery and argv handling -----------------------------


def _settings_module(tmp_path: Path, railops: str) -> dict[str, str]:
    (tmp_path / "bad_railops_settings.py").write_text(
        f"from config.settings import *  # noqa\nRAILOPS = {railops}\n"
    )
    return {"PYTHONPATH": str(tmp_path)}


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        (("db_health", "--format", "json"), {"RAILOPS_CONNECT_TIMEOUT": "abc"}, "E004"),
        (("safe_migrate", "--dry-run"), {"RAILOPS_CONNECT_TIMEOUT": "inf"}, "E004"),
        (("backup", "list"), {"RAILOPS_BACKUP_COMPRESSION_LEVEL": "1000000000000"}, "E004"),
        (("emergency_rollback", "assess"), {"RAILOPS_MIGRATION_RETRIES": "five"}, "E004"),
        (("railway_deploy", "--dry-run"), {"RAILOPS_BACKUP_ENGINE": "tarball"}, "E004"),
        (("db_health", "--watch", "nan", "--format", "json"), {}, "--watch"),
        (("db_health", "--watch", "1e400"), {}, "--watch"),
        (("safe_migrate", "--lock-timeout", "99999999999"), {}, "--lock-timeout"),
        (("backup", "list"), {"CSRF_TRUSTED_ORIGINS": "myapp.up.railway.app"}, "4_0.E001"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_real_process__bad_input__exit_3_one_line(argv, env, fragment):
    proc = run_manage(*argv, env=env)
    assert_cannot_run(proc.stdout, proc.stderr, proc.returncode, fragment)
    assert_contract(proc.stdout, proc.stderr, 3, json_format=wants_json(list(argv)))


@pytest.mark.parametrize(
    "railops",
    [
        '{"CONNECT_TIMEOUT": float("inf")}',
        '{"THRESHOLDS": {"latency_ms": [5, 1]}}',
        '{"BACKUP_RETENSION": {}}',
    ],
    ids=["inf", "inverted", "unknown-key"],
)
def test_real_process__bad_railops_dict__exit_3_one_line_and_check_lists_it(tmp_path, railops):
    env = _settings_module(tmp_path, railops)
    proc = run_manage(
        "db_health", "--format", "json", "--settings", "bad_railops_settings", env=env
    )
    assert_cannot_run(proc.stdout, proc.stderr, proc.returncode, "railops.E00")
    assert "SystemCheckError" not in proc.stderr
    assert_contract(proc.stdout, proc.stderr, 3, json_format=True)
    check = run_manage("check", "--settings", "bad_railops_settings", env=env)
    assert check.returncode == 1 and "railops.E00" in check.stderr


def test_real_process__refused_connection__json_finding_exit_2():
    url = f"postgres://postgres@127.0.0.1:{_closed_port()}/x"
    proc = run_manage("emergency_rollback", "backup", "--format", "json", env={"DATABASE_URL": url})
    assert_contract(proc.stdout, proc.stderr, proc.returncode, json_format=True)
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["findings"][0]["id"] == "rollback.connect.refused"


def test_real_process__restore_with_stdin_not_a_terminal__exit_3_use_noinput(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "RAILOPS_BACKUP_DIR": str(tmp_path / "backups"),
    }
    assert run_manage("migrate", "--noinput", env=env).returncode == 0
    created = run_manage("backup", "create", "--format", "json", env=env)
    name = json.loads(created.stdout)["backup"]["name"]
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "backup", "restore", name],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=EXAMPLE,
        env={**_env_for_subprocess(), **env},
        timeout=120,
    )
    assert_cannot_run(proc.stdout, proc.stderr, proc.returncode, "--noinput")


def _env_for_subprocess() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.parametrize(
    ("archive", "output", "fragment"),
    [
        ("{tmp}/x.zst", "/no/such/dir/x", "/no/such/dir/x"),
        ("{tmp}/x.zst", "/proc/railops-unpack", "cannot write"),
        ("{tmp}/x.zst", "{tmp}", "exists"),
        ("{tmp}/x.zst", "{tmp}/x.zst", "exists"),
        ("{tmp}/missing.zst", "{tmp}/out", "no such file"),
        ("{tmp}", "{tmp}/out", "no such file"),
    ],
    ids=["missing-dir", "unwritable", "output-is-a-dir", "output-exists", "no-archive", "dir"],
)
def test_unpack__bad_paths__exit_3_one_line(tmp_path, archive, output, fragment):
    (tmp_path / "x.zst").write_bytes(b"not really zstd")
    argv = [a.format(tmp=tmp_path) for a in (archive, "-o", output)]
    proc = subprocess.run(
        [sys.executable, "-m", "railops_django", "unpack", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert_cannot_run(proc.stdout, proc.stderr, proc.returncode, fragment)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "argv",
    [
        ("backup", "restore", "--latest", "--noinput"),
        ("backup", "restore", "{name}", "--noinput"),
        ("backup", "verify", "--latest", "--restore-test"),
        ("emergency_rollback", "recover", "--backup", "{name}", "--noinput"),
        ("emergency_rollback", "backup"),
        ("railway_deploy",),
    ],
    ids=_id,
)
def test_connection_lost_with_a_backup_in_the_catalog__classified_finding_exit_2(
    argv, one_backup, django_db_blocker, monkeypatch
):
    """The paths that crashed on main: a good backup exists, then the server goes away."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    dead = {**connections["default"].settings_dict, "PORT": str(_closed_port())}
    dead["OPTIONS"] = {**dead.get("OPTIONS", {}), "connect_timeout": 2}
    with broken_default(dead, django_db_blocker):
        out, err, code = run(*(a.format(name=one_backup) for a in argv), "--format", "json")
    assert_contract(out, err, code, json_format=True)
    assert code == 2, (code, out, err)
    ids = [f["id"] for f in json.loads(out)["findings"]]
    assert any(i.endswith("connect.refused") for i in ids[:3]), ids


@needs_server
def test_connection_failure__unknown_driver_message_while_connecting__still_a_finding(
    django_db_blocker,
):
    """A database that refuses connections with words cause_of does not know is still a
    connection failure (raised while connecting), not a traceback."""
    import psycopg

    name = "railops_contract_closed"
    admin = "host=127.0.0.1 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as pg:
        pg.execute(f"DROP DATABASE IF EXISTS {name}")
        pg.execute(f"CREATE DATABASE {name} ALLOW_CONNECTIONS false")
    try:
        with broken_default(_postgres(NAME=name), django_db_blocker):
            out, err, code = run("emergency_rollback", "backup", "--format", "json")
    finally:
        with psycopg.connect(admin, autocommit=True) as pg:
            pg.execute(f"DROP DATABASE IF EXISTS {name}")
    assert code == 2
    finding = json.loads(out)["findings"][0]
    assert finding["id"] == "rollback.connect.other", finding
    assert "not currently accepting connections" in finding["detail"]


@pytest.mark.parametrize(
    "argv",
    [
        ("safe_migrate", "nosuchapp", "--dry-run"),
        ("safe_migrate", "shop", "9999_nosuch", "--dry-run"),
        ("emergency_rollback", "recover", "--to-release", "424242", "--dry-run"),
        ("emergency_rollback", "recover", "--to-release", "424242", "--noinput"),
        ("backup", "create", "--tier", "yearly", "--dry-run"),
    ],
    ids=_id,
)
@pytest.mark.django_db
def test_unknown_app_migration_release_or_tier__exit_3_before_anything(argv, backup_dir):
    out, err, code = run(*argv, "--format", "json")
    assert_cannot_run(out, err, code)
    assert _files(backup_dir) == []


def test_silenced_railops_check__another_apps_error_is_the_one_named(settings, railops):
    railops({"CONNECT_TIMEOUT": 5000})
    settings.SILENCED_SYSTEM_CHECKS = ["railops.E003"]
    settings.CSRF_TRUSTED_ORIGINS = ["myapp.up.railway.app"]
    out, err, code = run("backup", "list")
    assert_cannot_run(out, err, code, "4_0.E001")
    assert "CONNECT_TIMEOUT" not in err


@pytest.mark.parametrize(
    ("argv", "finding_id"),
    [
        (["db_health"], "health.connect.locked"),
        (["backup", "restore", "--latest", "--noinput"], "backup.connect.locked"),
    ],
    ids=["db_health", "restore-latest"],
)
def test_real_process__sqlite_locked_by_another_connection__locked_finding_exit_2(
    tmp_path, argv, finding_id
):
    """Rollback-journal mode: a writer's EXCLUSIVE lock keeps every reader out."""
    import sqlite3

    db = tmp_path / "db.sqlite3"
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "RAILOPS_BACKUP_DIR": str(tmp_path / "backups"),
        "RAILOPS_CONNECT_TIMEOUT": "0.2",
    }
    assert run_manage("migrate", "--noinput", env=env).returncode == 0
    assert run_manage("backup", "create", env=env).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        assert holder.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        holder.execute("BEGIN EXCLUSIVE")
        proc = run_manage(*argv, "--format", "json", env=env)
    finally:
        holder.close()
    assert_contract(proc.stdout, proc.stderr, proc.returncode, json_format=True)
    assert proc.returncode == 2
    finding = json.loads(proc.stdout)["findings"][0]
    assert finding["id"] == finding_id and "locked" in finding["title"], finding
