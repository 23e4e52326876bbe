from __future__ import annotations

import json
import subprocess

import pytest

from railops_django.diagnose import application, deploy_config
from railops_django.diagnose.runner import Context
from railops_django.report import Severity


def test_wsgi_import__healthy_project__no_finding():
    assert application.wsgi_import(Context()) == []


def test_wsgi_import__missing_dependency__critical_with_masked_traceback(settings):
    settings.WSGI_APPLICATION = "tests.diagnose.broken_wsgi.application"
    (f,) = application.wsgi_import(Context())
    assert f.id == "diagnose.app.wsgi_import" and f.severity is Severity.CRITICAL and f.rank == 3
    assert "railops_no_such_dependency" in f.title and "requirements.txt" in f.fix
    assert "broken_wsgi.py" in f.detail


def test_wsgi_import__child_dies_before_reading_stdin__its_error_reported_no_broken_pipe(
    monkeypatch,
):
    class DiesFirst(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.wait()  # the hand-over then writes to a pipe nobody reads: EPIPE

    monkeypatch.setattr(application, "_IMPORT", "raise SystemExit('died at start')")
    monkeypatch.setattr(application.subprocess, "Popen", DiesFirst)
    handle = application.WsgiImport()
    assert handle.proc is not None and handle.proc.stdin is None
    (f,) = handle.findings()
    assert f.id == "diagnose.app.wsgi_import" and "died at start" in f.title


def _config(tmp_path, command: str, name: str = "railway.json"):
    if name == "Procfile":
        (tmp_path / name).write_text(f"release: python manage.py migrate\nweb: {command}\n")
    elif name == "railway.toml":
        (tmp_path / name).write_text(
            f'[deploy]\nstartCommand = "{command}"\nhealthcheckPath = "/up"\n'
        )
    else:
        (tmp_path / name).write_text(json.dumps({"deploy": {"startCommand": command}}))
    return deploy_config.read(tmp_path)


@pytest.mark.parametrize("name", ["railway.json", "railway.toml", "Procfile"])
def test_start_command__gunicorn_on_port__no_finding(tmp_path, name):
    config = _config(tmp_path, "gunicorn config.wsgi --bind 0.0.0.0:$PORT --workers 2", name)
    assert config.start_source.endswith(name)
    assert application.start_command_findings(config) == []


def test_start_command__fixed_port__critical(tmp_path):
    (f,) = application.start_command_findings(
        _config(tmp_path, "gunicorn config.wsgi --bind 0.0.0.0:8000")
    )
    assert f.id == "diagnose.start.port" and f.severity is Severity.CRITICAL and f.rank == 2


def test_start_command__localhost_only__critical(tmp_path):
    (f,) = application.start_command_findings(
        _config(tmp_path, "gunicorn config.wsgi -b 127.0.0.1:$PORT")
    )
    assert f.id == "diagnose.start.port" and "localhost" in f.title


def test_start_command__runserver_in_production__warning(tmp_path, monkeypatch):
    monkeypatch.setenv("RAILWAY_ENVIRONMENT_NAME", "production")
    findings = application.start_command_findings(
        _config(tmp_path, "python manage.py runserver 0.0.0.0:$PORT")
    )
    (f,) = findings
    assert f.id == "diagnose.start.runserver" and f.severity is Severity.WARNING and f.rank == 30


def test_start_command__migrate_and_collectstatic_inside__two_warnings(tmp_path):
    command = "python manage.py migrate && python manage.py collectstatic --noinput && gunicorn config.wsgi"
    found = {f.id: f for f in application.start_command_findings(_config(tmp_path, command))}
    assert set(found) == {"diagnose.start.migrate", "diagnose.start.collectstatic"}
    assert all(f.severity is Severity.WARNING and f.rank == 60 for f in found.values())


def test_start_command__safe_migrate_is_not_migrate(tmp_path):
    command = "python manage.py safe_migrate --noinput && gunicorn config.wsgi"
    assert application.start_command_findings(_config(tmp_path, command)) == []


def test_gunicorn_concurrency__env_and_command():
    assert deploy_config.gunicorn_concurrency("gunicorn x --workers 3 --threads 4", {}) == {
        "workers": 3,
        "threads": 4,
        "source": "start command",
    }
    assert (
        deploy_config.gunicorn_concurrency("gunicorn x", {"WEB_CONCURRENCY": "5"})["workers"] == 5
    )
    assert (
        deploy_config.gunicorn_concurrency("gunicorn x", {"GUNICORN_CMD_ARGS": "-w 7"})["workers"]
        == 7
    )


def test_gunicorn_concurrency__conf_file_below_command_line(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("workers = 6\nthreads = 3\n")
    assert deploy_config.gunicorn_concurrency("gunicorn x", {}, tmp_path) == {
        "workers": 6,
        "threads": 3,
        "source": "gunicorn.conf.py",
    }
    assert deploy_config.gunicorn_concurrency("gunicorn x -w 2", {}, tmp_path)["workers"] == 2
