from __future__ import annotations

import pytest

from railops_django.report import ACTION, CannotRun, ExitCode, Report, Severity


def _report(kind: str, *severities: Severity) -> Report:
    report = Report("demo", kind=kind)
    for i, s in enumerate(severities):
        report.add(f"demo.{i}", s, f"t{i}")
    return report


@pytest.mark.parametrize(
    ("severities", "code"),
    [
        ((), ExitCode.OK),
        ((Severity.OK, Severity.INFO), ExitCode.OK),
        ((Severity.INFO, Severity.WARNING), ExitCode.WARNING),
        ((Severity.WARNING, Severity.CRITICAL, Severity.OK), ExitCode.CRITICAL),
    ],
)
def test_report_command__exit_code_follows_worst_severity(severities, code):
    assert _report("report", *severities).exit_code == code


@pytest.mark.parametrize(
    ("severities", "code"),
    [((Severity.WARNING,), ExitCode.OK), ((Severity.INFO, Severity.CRITICAL), ExitCode.CRITICAL)],
)
def test_action_command__warnings_allowed_critical_fails(severities, code):
    assert _report(ACTION, *severities).exit_code == code


def test_sorted_findings__most_severe_then_most_urgent():
    report = Report("demo")
    report.add("a.info", Severity.INFO, "i", rank=0)
    report.add("b.warn.late", Severity.WARNING, "w2", rank=20)
    report.add("c.crit", Severity.CRITICAL, "c", rank=90)
    report.add("d.warn.early", Severity.WARNING, "w1", rank=10)
    assert [f.id for f in report.sorted_findings()] == [
        "c.crit",
        "d.warn.early",
        "b.warn.late",
        "a.info",
    ]
    assert [f.id for f in report.problems()] == ["c.crit", "d.warn.early", "b.warn.late"]


def test_as_dict__has_the_json_contract_keys_and_extras():
    report = Report("demo")
    report.add("x.y", Severity.WARNING, "title", detail="d", fix="f", value=3, threshold=2)
    report.extras["plan"] = [1, 2]
    data = report.finish().as_dict()
    assert data["command"] == "demo"
    assert data["status"] == "warning"
    assert data["exit_code"] == 1
    assert isinstance(data["duration_s"], float)
    assert data["findings"] == [
        {
            "id": "x.y",
            "severity": "warning",
            "title": "title",
            "detail": "d",
            "fix": "f",
            "data": {"value": 3, "threshold": 2},
        }
    ]
    assert data["plan"] == [1, 2]


def test_extras__cannot_override_contract_keys():
    report = Report("demo")
    report.extras["status"] = "bogus"
    assert report.as_dict()["status"] == "ok"


def test_severity_parse__unknown_is_cannot_run():
    assert Severity.parse("Warning") is Severity.WARNING
    with pytest.raises(CannotRun, match="unknown severity 'loud'"):
        Severity.parse("loud")
