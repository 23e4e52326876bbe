from __future__ import annotations

import json
import stat

from railops_django import render
from railops_django.report import Report, Severity


def _report() -> Report:
    report = Report("demo")
    report.add("demo.ok", Severity.OK, "database reachable")
    report.add("demo.warn", Severity.WARNING, "DEBUG is on", fix="set DEBUG=False", rank=5)
    report.add(
        "demo.crit",
        Severity.CRITICAL,
        "ALLOWED_HOSTS lacks the domain",
        detail="Host x.up.railway.app is rejected",
        fix="add it to ALLOWED_HOSTS",
        rank=9,
    )
    report.extras["tables"] = [{"name": "shop_product", "rows": 3}]
    return report


def test_text__no_colour_by_default_most_severe_first_each_with_fix():
    out = render.render(_report(), "text")
    assert "\x1b[" not in out
    assert out.splitlines()[0].startswith("demo: CRITICAL (1 critical, 1 warning, 1 ok)")
    assert (
        out.index("ALLOWED_HOSTS lacks")
        < out.index("DEBUG is on")
        < out.index("database reachable")
    )
    assert " 1. CRITICAL" in out and " 2. WARNING" in out
    assert "fix: add it to ALLOWED_HOSTS" in out and "fix: set DEBUG=False" in out
    assert "shop_product" in out


def test_text__long_nested_extras__one_line_each_or_a_count_never_a_wall_of_json():
    report = Report("demo")
    report.add("demo.ok", Severity.OK, "fine")
    commands = [f"python manage.py migrate app{i} zero" for i in range(6)]
    reverse_sql = {
        f"app{i}.0001_initial": ["-- Create model X", 'DROP TABLE "x";'] for i in range(9)
    }
    report.extras["rollback_plan"] = {
        "all_reversible": True,
        "targets": {f"app{i}": "zero" for i in range(12)},
        "commands": commands,
        "reverse_sql": reverse_sql,
    }
    lines = render.render(report, "text").splitlines()
    assert "  all_reversible: True" in lines
    assert "    app11: zero" in lines
    assert all(f"    - {command}" in lines for command in commands)
    assert "  reverse_sql: 9 entries (in full with --format json)" in lines
    assert 'DROP TABLE "x"' not in "\n".join(lines)
    data = json.loads(render.render(report, "json"))
    assert data["rollback_plan"]["reverse_sql"] == reverse_sql


def test_text__colour_when_asked():
    assert "\x1b[1;31m" in render.render(_report(), "text", color=True)


def test_json__one_object_with_contract():
    data = json.loads(render.render(_report(), "json"))
    assert data["command"] == "demo" and data["status"] == "critical" and data["exit_code"] == 2
    assert [f["id"] for f in data["findings"]] == ["demo.crit", "demo.warn", "demo.ok"]
    assert data["tables"] == [{"name": "shop_product", "rows": 3}]


def test_write_report_file__markdown_and_json_are_private(tmp_path):
    md, js = tmp_path / "r.md", tmp_path / "sub" / "r.json"
    render.write_report_file(_report(), md)
    render.write_report_file(_report(), js)
    assert md.read_text().startswith("# demo: critical")
    assert "| 1 | critical | `demo.crit` |" in md.read_text()
    assert json.loads(js.read_text())["command"] == "demo"
    for path in (md, js):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("**/.*.tmp"))


class _Tty:
    def __init__(self, tty: bool):
        self.chunks: list[str] = []
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def write(self, s: str) -> None:
        self.chunks.append(s)

    def flush(self) -> None:
        pass


def test_progress__silent_off_a_tty_and_shown_on_one():
    quiet, loud = _Tty(False), _Tty(True)
    for stream in (quiet, loud):
        progress = render.Progress(stream)
        progress._last = -1.0
        progress.bytes(5 * 1_048_576, "dump")
        progress.done()
    assert quiet.chunks == []
    assert "5.0 MiB" in "".join(loud.chunks)
