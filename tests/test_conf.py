from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from railops_django import conf
from railops_django.report import CannotRun


def _ids(settings, value):
    settings.RAILOPS = value
    return [(e.id, e.msg) for e in conf.check_settings()]


def test_defaults__every_key_has_one_and_validates(settings, monkeypatch):
    settings.RAILOPS = {}
    for name in conf.KEYS:
        monkeypatch.delenv(f"RAILOPS_{name}", raising=False)
        conf.get(name)  # no exception
    assert conf.get("BACKUP_RETENTION") == {"daily": 7, "weekly": 4, "monthly": 12}
    assert conf.threshold("connections_pct") == (80, 95)
    assert conf.get("LOCK_TIMEOUT_MS") == 2000


def test_backup_dir__volume_then_base_dir(settings, monkeypatch, tmp_path):
    settings.RAILOPS = {}
    monkeypatch.delenv("RAILOPS_BACKUP_DIR", raising=False)
    monkeypatch.delenv("RAILWAY_VOLUME_MOUNT_PATH", raising=False)
    assert conf.get("BACKUP_DIR") == str(settings.BASE_DIR / "backups")
    monkeypatch.setenv("RAILWAY_VOLUME_MOUNT_PATH", str(tmp_path))
    assert conf.get("BACKUP_DIR") == str(tmp_path / "railops-backups")


def test_env_fallback__parsed_and_explicit_setting_wins(settings, monkeypatch):
    settings.RAILOPS = {}
    backend = {"BACKEND": settings.STORAGES["default"]["BACKEND"]}
    settings.STORAGES = {**settings.STORAGES, "offsite": backend}
    monkeypatch.setenv("RAILOPS_LOCK_TIMEOUT_MS", "1500")
    monkeypatch.setenv("RAILOPS_BACKUP_STORAGES", "default, offsite")
    assert conf.get("LOCK_TIMEOUT_MS") == 1500
    assert conf.get("BACKUP_STORAGES") == ["default", "offsite"]
    settings.RAILOPS = {"LOCK_TIMEOUT_MS": 900}
    assert conf.get("LOCK_TIMEOUT_MS") == 900


def test_read_at_call_time(settings):
    settings.RAILOPS = {"MIGRATION_RETRIES": 1}
    assert conf.get("MIGRATION_RETRIES") == 1
    settings.RAILOPS = {"MIGRATION_RETRIES": 7}
    assert conf.get("MIGRATION_RETRIES") == 7


def test_check__retention_as_string_names_key_and_type(settings):
    errors = _ids(settings, {"BACKUP_RETENTION": "7"})
    assert errors == [("railops.E003", "RAILOPS['BACKUP_RETENTION'] must be dict, got str '7'.")]


def test_check__unknown_key_suggests_the_right_one(settings):
    settings.RAILOPS = {"BACKUP_RETENSION": {}}
    (error,) = conf.check_settings()
    assert error.id == "railops.E002"
    assert "BACKUP_RETENSION" in error.msg
    assert "Did you mean 'BACKUP_RETENTION'?" in error.hint


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([], "RAILOPS must be a dict"),
        ({"BACKUP_ENGINE": "tarball"}, "must be one of 'auto', 'pg_dump', 'native'"),
        ({"BACKUP_RETENTION": {"daily": 7, "yearly": 1}}, "unknown tier(s) ['yearly']"),
        ({"THRESHOLDS": {"memory_pct": [80]}}, "memory_pct must be a [warning, critical] pair"),
        ({"THRESHOLDS": {"memroy_pct": [1, 2]}}, "did you mean 'memory_pct'?"),
        ({"LOCK_TIMEOUT_MS": True}, "must be an integer"),
        ({"BACKUP_STORAGES": ["default", 3]}, "every item must be a str"),
    ],
)
def test_check__bad_values_are_errors_not_crashes(settings, value, fragment):
    messages = " ".join(m for _, m in _ids(settings, value))
    assert fragment in messages


def test_check__bad_environment_value_is_reported(settings, monkeypatch):
    settings.RAILOPS = {}
    monkeypatch.setenv("RAILOPS_MIGRATION_RETRIES", "five")
    (error,) = conf.check_settings()
    assert error.id == "railops.E004" and "RAILOPS_MIGRATION_RETRIES" in error.msg
    with pytest.raises(
        CannotRun, match=r"RAILOPS_MIGRATION_RETRIES is not an integer from 0 to 100, got 'five'"
    ):
        conf.get("MIGRATION_RETRIES")


def test_get__invalid_value_is_cannot_run_not_a_crash(settings):
    settings.RAILOPS = {"BACKUP_RETENTION": "7"}
    with pytest.raises(CannotRun, match="RAILOPS\\['BACKUP_RETENTION'\\] must be dict"):
        conf.get("BACKUP_RETENTION")


def test_manage_check__registered_with_django(settings):
    settings.RAILOPS = {"BACKUP_RETENTION": "7"}
    with pytest.raises(SystemCheckError, match=r"railops\.E003"):
        call_command("check")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"CONNECT_TIMEOUT": float("inf")}, "must be a finite number from 0 to 600, got inf"),
        ({"CONNECT_TIMEOUT": float("nan")}, "got nan"),
        ({"BACKUP_COMPRESSION_LEVEL": 10**12}, "must be from 1 to 22"),
        ({"BACKUP_SPECIAL_RETENTION_DAYS": 10**10}, "must be from 0 to 36500"),
        ({"BACKUP_RETENTION": {"weekly": 10**9}}, "weekly must be from 0 to 10000"),
        ({"THRESHOLDS": {"latency_ms": [5, 1]}}, "warning must not be above critical"),
        ({"THRESHOLDS": {"cache_hit_ratio_pct": [90, 99]}}, "lower-is-worse"),
        ({"THRESHOLDS": {"disk_pct": [80, 101]}}, "from 0 to 100"),
        ({"THRESHOLDS": {"latency_ms": [float("nan"), 1]}}, "finite"),
        ({"LOCK_TIMEOUT_MS": 10**4000}, "characters)"),
        ({"LOCK_TIMEOUT_MS": 10**5000}, "an int of about 5000 digits"),
    ],
)
def test_check__numbers_must_be_finite_in_range_and_ordered(settings, value, fragment):
    messages = " ".join(m for _, m in _ids(settings, value))
    assert fragment in messages and len(messages) < 300


@pytest.mark.parametrize(
    "value",
    [
        {"THRESHOLDS": {"latency_ms": [100, 100]}},
        {"THRESHOLDS": {"cache_hit_ratio_pct": [99, 95]}},
        {"BACKUP_COMPRESSION_LEVEL": 22},
        {"CONNECT_TIMEOUT": 0.5},
        {"BACKUP_RETENTION": {"daily": 0}},
    ],
)
def test_check__edges_of_the_ranges_are_accepted(settings, value):
    assert _ids(settings, value) == []


def test_env__inf_and_overflowing_numbers_are_refused_by_get(settings, monkeypatch):
    settings.RAILOPS = {}
    for raw in ("inf", "1e400", "nan"):
        monkeypatch.setenv("RAILOPS_CONNECT_TIMEOUT", raw)
        with pytest.raises(CannotRun, match=r"RAILOPS_CONNECT_TIMEOUT .*railops\.E004"):
            conf.get("CONNECT_TIMEOUT")


def test_env__json_nested_past_the_recursion_limit__refused_naming_the_variable(
    settings, monkeypatch
):
    settings.RAILOPS = {}
    monkeypatch.setenv("RAILOPS_BACKUP_STORAGES", "[" * 100_000)
    with pytest.raises(CannotRun, match=r"RAILOPS_BACKUP_STORAGES .*railops\.E004"):
        conf.get("BACKUP_STORAGES")
    assert [p.id for p in conf.problems()] == ["railops.E004"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("61 * * * *", "'61' is outside 0-59"),
        ("0 0 31 2 *", "never fires"),
        ("daily", "not a 5-field cron expression"),
        ("1-x * * * *", "'1-x' is not a number"),
        ("*/0 * * * *", "outside"),
    ],
)
def test_check__backup_schedule_that_never_fires_or_does_not_parse__e004_naming_it(
    settings, monkeypatch, value, fragment
):
    # the daemon used to be the first to find out, at its start, with no check id
    settings.RAILOPS = {}
    monkeypatch.setenv("RAILOPS_BACKUP_SCHEDULE", value)
    [problem] = conf.problems()
    assert problem.id == "railops.E004" and "RAILOPS_BACKUP_SCHEDULE" in problem.msg
    assert fragment in problem.msg
    monkeypatch.delenv("RAILOPS_BACKUP_SCHEDULE")
    settings.RAILOPS = {"BACKUP_SCHEDULE": value}
    assert [p.id for p in conf.problems()] and fragment in conf.problems()[0].msg
    settings.RAILOPS = {"BACKUP_SCHEDULE": "30 2 * * 0"}
    assert conf.problems() == []


def test_check__backup_storages_names_a_storage_settings_lack__error_naming_it(
    settings, monkeypatch
):
    # 'manage.py check' said nothing; the first backup then failed (the deploy's backup step).
    settings.STORAGES = {
        **settings.STORAGES,
        "offsite": {"BACKEND": settings.STORAGES["default"]["BACKEND"]},
    }
    assert _ids(settings, {"BACKUP_STORAGES": ["local", "offsite"]}) == []
    errors = _ids(settings, {"BACKUP_STORAGES": ["local", "offsite", "ofsite"]})
    assert errors == [
        (
            "railops.E003",
            "RAILOPS['BACKUP_STORAGES'] names 'ofsite', which is not in settings.STORAGES (add "
            "STORAGES['ofsite'] or remove it).",
        )
    ]
    settings.RAILOPS = {}
    monkeypatch.setenv("RAILOPS_BACKUP_STORAGES", "nosuch")
    (error,) = conf.check_settings()
    assert error.id == "railops.E004" and "'nosuch'" in error.msg


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("backups", "must be an absolute path, got 'backups'"),
        ("./var/backups", "must be an absolute path"),
        ("/data/back\nups", "must not hold control characters"),
        ("/data/back\x00ups", "must not hold control characters"),
        ("/data/\tbackups", "must not hold control characters"),
    ],
)
def test_backup_dir__relative_or_with_control_characters__refused_in_settings_and_env(
    settings, monkeypatch, value, fragment
):
    settings.RAILOPS = {"BACKUP_DIR": value}
    with pytest.raises(CannotRun, match=fragment):
        conf.get("BACKUP_DIR")
    settings.RAILOPS = {}
    monkeypatch.setenv("RAILOPS_BACKUP_DIR", value.replace("\x00", "\x01"))  # no NUL in env
    (error,) = conf.check_settings()
    assert error.id == "railops.E004" and "RAILOPS_BACKUP_DIR" in error.msg
    assert "an absolute path" in error.hint


def test_backup_dir__absolute_str_or_path__accepted(settings, tmp_path):
    for value in (str(tmp_path / "b"), tmp_path / "b", "/data/railops backups (ü)"):
        settings.RAILOPS = {"BACKUP_DIR": value}
        assert conf.get("BACKUP_DIR") == str(value)
