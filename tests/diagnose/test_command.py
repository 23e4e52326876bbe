from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys

import pytest
from django.db import connections

from tests.test_canary import _leaks
from tests.utils import EXAMPLE, ROOT, run_command, run_manage

pytestmark = pytest.mark.django_db


def test_command__json__one_object_with_contract_keys_and_replay():
    out, _, code = run_command("railway_diagnose", "--format", "json")
    report = json.loads(out)
    assert report["command"] == "railway_diagnose" and report["exit_code"] == code
    assert {"status", "duration_s", "findings", "edge_replay"} <= set(report)
    replay = {row["path"]: row for row in report["edge_replay"]}
    assert set(replay) == {"/", "/railops/health/"}
    # example_project's healthcheck is railops' own health gate: healthy as Railway calls it
    assert replay["/railops/health/"]["host"] == "healthcheck.railway.app"
    assert replay["/railops/health/"]["status"] == 200


def test_command__url_flag__replayed_and_skip_requests__not(settings):
    settings.ROOT_URLCONF = "tests.diagnose.faults"
    out, _, code = run_command("railway_diagnose", "--format", "json", "--url", "/boom/")
    report = json.loads(out)
    boom = next(f for f in report["findings"] if f["id"] == "diagnose.edge.url")
    assert boom["severity"] == "critical" and code == 2 and boom["data"]["cause"] == "KeyError"
    out, _, _ = run_command(
        "railway_diagnose", "--format", "json", "--skip-requests", "--url", "/boom/"
    )
    assert "edge_replay" not in json.loads(out)


def test_command__output_md_and_json__private_files(tmp_path):
    for name in ("report.md", "report.json"):
        run_command("railway_diagnose", "--output", str(tmp_path / name))
        path = tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert "railway_diagnose" in text
    assert json.loads((tmp_path / "report.json").read_text())["command"] == "railway_diagnose"
    assert (tmp_path / "report.md").read_text().startswith("# railway_diagnose:")


def test_command__unknown_alias__exit_3():
    _, err, code = run_command("railway_diagnose", "--database", "nope")
    assert code == 3 and "unknown database alias" in err


def _test_db_url() -> str:
    db = connections["default"].settings_dict
    if connections["default"].vendor == "postgresql":
        return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def test_healthy_example__railway_like_variables__no_warning_no_critical():
    env = {
        "RAILWAY_ENVIRONMENT_NAME": "production",
        "RAILWAY_PUBLIC_DOMAIN": "shop.up.railway.app",
        "RAILWAY_PRIVATE_DOMAIN": "web.railway.internal",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": _test_db_url(),
    }
    proc = run_manage("railway_diagnose", "--format", "json", env=env)
    report = json.loads(proc.stdout)
    problems = [f for f in report["findings"] if f["severity"] in ("warning", "critical")]
    assert problems == [] and proc.returncode == 0, proc.stdout
    assert {r["status"] for r in report["edge_replay"]} == {200}
    assert any(r["host"] == "shop.up.railway.app" for r in report["edge_replay"])


def test_canary__output_files_and_stderr__never_hold_the_password(canary_env, tmp_path):
    for name in ("r.md", "r.json"):
        proc = run_manage(
            "railway_diagnose",
            "--output",
            str(tmp_path / name),
            "--settings",
            "tests.settings",
            env=canary_env,
        )
        assert proc.returncode in (0, 1, 2), proc.stderr
        assert not _leaks(proc.stdout + proc.stderr)
        assert not _leaks((tmp_path / name).read_text())


def _module_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    full.pop("DJANGO_SETTINGS_MODULE", None)
    # the railops_django under test, not whichever one is installed (cwd is example_project)
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "railops_django", "diagnose", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=EXAMPLE,
        timeout=60,
    )


def test_module__settings_raise_on_import__file_line_masked_and_other_probes_run(
    canary_env, tmp_path
):
    env = {**canary_env, "PYTHONPATH": str(ROOT)}
    proc = _module_run(
        "--settings",
        "tests.diagnose.broken_settings",
        "--format",
        "json",
        "--output",
        str(tmp_path / "r.md"),
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    first = report["findings"][0]
    assert first["id"] == "diagnose.env.settings_import" and first["severity"] == "critical"
    assert first["data"]["where"].endswith("tests/diagnose/broken_settings.py:6")
    assert "RuntimeError" in first["detail"]
    ids = {f["id"] for f in report["findings"]}
    assert "diagnose.skipped" in ids
    assert "diagnose.database.latency" in ids or any(
        i.startswith("diagnose.database.connect") for i in ids
    )
    assert not _leaks(proc.stdout + proc.stderr) and not _leaks((tmp_path / "r.md").read_text())


def test_module__missing_settings_module__critical_rank_0():
    proc = _module_run("--settings", "no_such_settings_pkg.settings", "--format", "json", env={})
    report = json.loads(proc.stdout)
    assert proc.returncode == 2 and report["findings"][0]["id"] == "diagnose.env.settings_module"


def test_module__healthy_example__same_as_the_command():
    proc = _module_run("--format", "json", "--skip-requests", env={"DATABASE_URL": _test_db_url()})
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout
    assert any(f["id"] == "diagnose.database.latency" for f in report["findings"])


def test_module__bad_argument__exit_3():
    proc = _module_run("--format", "yaml", env={})
    assert proc.returncode == 3 and "error" in proc.stderr
