"""diagnose.project: load failures of the project's own code, as one finding each."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from railops_django.__main__ import _format_option
from railops_django.diagnose import project
from railops_django.diagnose.runner import Probe, crash_finding
from railops_django.report import Severity


@pytest.fixture
def broken_module(tmp_path, monkeypatch):
    """A project module whose body raises what the test writes into it."""

    def make(body: str) -> BaseException:
        name = f"brokenmod_{abs(hash(body))}"
        (tmp_path / f"{name}.py").write_text(body)
        monkeypatch.syspath_prepend(str(tmp_path))
        try:
            importlib.import_module(name)
        except Exception as exc:
            return exc
        finally:
            sys.modules.pop(name, None)
        raise AssertionError("the module imported")

    return make


def test_project_frame__import_in_project_module__its_file_and_line(broken_module, tmp_path):
    exc = broken_module("x = 1\nimport no_such_pkg_for_railops\n")
    assert project.project_frame(exc).endswith(".py:2")
    assert str(tmp_path) in project.project_frame(exc)


def test_loads_project__module_body_raising_key_error__true(broken_module):
    exc = broken_module("import os\nREGION = os.environ['NO_SUCH_RAILOPS_VAR']\n")
    assert isinstance(exc, KeyError) and project.loads_project(exc)


def test_loads_project__bug_in_a_function__false():
    def probe() -> None:
        raise IndexError("list index out of range")

    with pytest.raises(IndexError) as caught:
        probe()
    assert not project.loads_project(caught.value)


def test_crash_finding__project_load_failure__critical_rank_0_else_warning(broken_module):
    exc = broken_module("import no_such_pkg_for_railops\n")
    probe = Probe("application", "edge_replay", lambda ctx: [])
    failure = crash_finding(probe, exc)
    assert failure.severity is Severity.CRITICAL and failure.rank == 0
    assert failure.id == "diagnose.app.load_failed" and "no_such_pkg_for_railops" in failure.title
    assert failure.data["during"] == ["the edge_replay probe"]
    bug = crash_finding(probe, IndexError("x"))
    assert bug.severity is Severity.WARNING and bug.id == "diagnose.probe_crashed.edge_replay"


def test_merge_duplicates__same_failure_met_twice__kept_once_with_both_places(broken_module):
    exc = broken_module("import no_such_pkg_for_railops\n")
    first = project.load_failure(exc, "system check check_url_config")
    second = project.load_failure(exc, "the edge_replay probe")
    merged = project.merge_duplicates([first, second])
    assert len(merged) == 1
    assert merged[0].data["during"] == ["system check check_url_config", "the edge_replay probe"]


def test_merge_duplicates__wsgi_import_dying_of_the_same_error__folded_in(broken_module):
    from railops_django.report import Finding

    exc = broken_module("import no_such_pkg_for_railops\n")
    failure = project.load_failure(exc, "the edge_replay probe")
    wsgi = Finding(
        "diagnose.app.wsgi_import",
        Severity.CRITICAL,
        "WSGI_APPLICATION proj.wsgi.application does not import",
        data={"error": "ModuleNotFoundError: No module named 'no_such_pkg_for_railops'"},
    )
    other = Finding("diagnose.app.wsgi_import", Severity.CRITICAL, "x", data={"error": "Boom"})
    merged = project.merge_duplicates([failure, wsgi])
    assert [f.id for f in merged] == ["diagnose.app.load_failed"]
    assert "WSGI import" in merged[0].data["during"][-1]
    assert len(project.merge_duplicates([failure, other])) == 2


def test_settings_line__dotted_path_named_in_settings__that_line(settings):
    module = sys.modules[settings.SETTINGS_MODULE]
    lines = Path(module.__file__).read_text().splitlines()
    number = next(n for n, text in enumerate(lines, 1) if '"tests.testapp"' in text)
    assert project.settings_line("tests.testapp") == f"{module.__file__}:{number}"
    assert project.settings_line("no.such.dotted.path") == ""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["manage.py", "railway_diagnose", "--format", "json"], "json"),
        (["manage.py", "railway_diagnose", "--format=json"], "json"),
        (["manage.py", "railway_diagnose"], "text"),
        (["manage.py", "railway_diagnose", "--format", "yaml"], "text"),
    ],
)
def test_format_option__manage_argv__the_requested_format(argv, expected):
    assert _format_option(argv) == expected
