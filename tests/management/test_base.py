"""The shared command base, through a test-only command built on it."""

from __future__ import annotations

import json

import pytest

from railops_django.redact import MASK
from tests.utils import ROOT, run_command, run_manage


@pytest.mark.parametrize(
    ("findings", "code"),
    [([], 0), (["info"], 0), (["ok", "warning"], 1), (["warning", "critical"], 2)],
)
def test_report_kind__exit_codes(findings, code):
    args = [a for f in findings for a in ("--finding", f)]
    _, _, exit_code = run_command("railops_selftest", *args)
    assert exit_code == code


def test_action_kind__warning_is_done_critical_is_failed():
    assert run_command("railops_selftest", "--action", "--finding", "warning")[2] == 0
    assert run_command("railops_selftest", "--action", "--finding", "critical")[2] == 2


def test_json__exactly_one_object_on_stdout_nothing_on_stderr():
    out, err, code = run_command("railops_selftest", "--format", "json", "--finding", "warning")
    data = json.loads(out)
    assert data["command"] == "railops_selftest" and data["exit_code"] == code == 1
    assert err == ""


def test_text__no_colour_off_a_tty_colour_on_one_unless_no_color():
    plain, _, _ = run_command("railops_selftest", "--finding", "critical")
    tty, _, _ = run_command("railops_selftest", "--finding", "critical", tty=True)
    no_color, _, _ = run_command(
        "railops_selftest", "--finding", "critical", "--no-color", tty=True
    )
    assert "\x1b[" not in plain and "\x1b[" in tty and "\x1b[" not in no_color


def test_cannot_run__one_line_on_stderr_exit_3_no_traceback():
    out, err, code = run_command(
        "railops_selftest", "--cannot-run", "backup 'nope' does not exist: run 'backup list'"
    )
    assert code == 3 and out == ""
    assert err == "railops_selftest: backup 'nope' does not exist: run 'backup list'\n"


@pytest.mark.parametrize("args", [["--format", "yaml"], ["--no-such-flag"], ["--finding", "loud"]])
def test_bad_command_line_input__exit_3_one_line(args):
    _, err, code = run_command("railops_selftest", *args)
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "error:" in err and "Traceback" not in err


def test_unknown_database_alias__exit_3_names_the_aliases():
    _, err, code = run_command("railops_selftest", "--database", "replica")
    assert code == 3 and "unknown database alias 'replica': use one of default" in err


def test_internal_error__masked_traceback_exit_2(settings):
    settings.DATABASES["default"]["PASSWORD"] = "Crash-Canary-123"
    try:
        _, err, code = run_command("railops_selftest", "--crash")
    finally:
        settings.DATABASES["default"]["PASSWORD"] = ""
    assert code == 2
    assert "RuntimeError" in err and "Crash-Canary-123" not in err and MASK in err


def test_real_command_line__bad_input_exits_3_in_a_fresh_process():
    proc = run_manage(
        "railops_selftest",
        "--format",
        "yaml",
        "--settings",
        "tests.settings",
        env={"PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("manage.py railops_selftest: error:")


@pytest.mark.parametrize(
    ("text", "integer", "value"),
    [("1", False, 1.0), ("86400", False, 86400.0), ("2.5", False, 2.5), ("7", True, 7)],
)
def test_number__in_range__parsed(text, integer, value):
    from railops_django.management.base import number

    parsed = number(1, 86400, integer=integer)(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "0.5", "86401", "abc", ""])
def test_number__not_finite_or_out_of_range__argparse_error(text):
    import argparse

    from railops_django.management.base import number

    with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 86400"):
        number(1, 86400)(text)


def test_setting_number__uses_the_keys_own_range_and_type():
    from railops_django import conf
    from railops_django.management.base import setting_number

    parse = setting_number("LOCK_TIMEOUT_MS")
    assert parse("2000") == 2000
    with pytest.raises(Exception, match=r"from 0 to 86400000"):
        parse(str(conf.KEYS["LOCK_TIMEOUT_MS"].bounds[1] + 1))  # type: ignore[index]


def test_ask__no_terminal__cannot_run_says_noinput(monkeypatch):
    from railops_django.management.base import RailopsCommand
    from railops_django.report import CannotRun

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(CannotRun, match="use --noinput to restore unattended"):
        RailopsCommand().ask("Restore?", "restore")


def test_ask__terminal_closed_mid_question__cannot_run_not_eoferror(monkeypatch):
    from railops_django.management.base import RailopsCommand
    from railops_django.report import CannotRun

    def eof(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", eof)
    with pytest.raises(CannotRun, match="--noinput"):
        RailopsCommand().ask("Restore?", "restore")


def test_internal_error__format_json__one_json_report_exit_2(settings):
    settings.DATABASES["default"]["PASSWORD"] = "Crash-Canary-123"
    try:
        out, err, code = run_command("railops_selftest", "--crash", "--format", "json")
    finally:
        settings.DATABASES["default"]["PASSWORD"] = ""
    data = json.loads(out)
    assert code == data["exit_code"] == 2 and data["status"] == "critical"
    [finding] = data["findings"]
    assert finding["id"] == "railops_selftest.internal_error"
    assert "RuntimeError" in finding["title"] and MASK in finding["title"]
    assert "Traceback" not in out and "Crash-Canary-123" not in out + err
    assert err.strip().splitlines()[-1].startswith("railops_selftest: internal error:")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_keyboard_interrupt__one_line_exit_130_and_json_when_asked(fmt):
    out, err, code = run_command("railops_selftest", "--interrupt", "--format", fmt)
    assert code == 130 and err == "railops_selftest: interrupted\n" and "Traceback" not in err
    if fmt == "json":
        data = json.loads(out)
        assert data["exit_code"] == 130 and data["status"] == "critical"
        assert [f["id"] for f in data["findings"]] == ["railops_selftest.interrupted"]
    else:
        assert out == ""
