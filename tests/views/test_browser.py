"""A real browser on every dashboard page: example_project under gunicorn with DEBUG off and
manifest static storage, a strict Content-Security-Policy, a few days of recorded history, and
Debian's headless Chromium driven by selenium. No console error, no failed request, the charts
in the DOM; a screenshot of each page (``RAILOPS_SCREENSHOTS=DIR`` keeps them)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.utils import EXAMPLE, ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PAGES = {
    "overview": "/railops/",
    "releases": "/railops/releases/",
    "backups": "/railops/backups/",
    "database": "/railops/database/",
    "history": "/railops/history/?range=7d",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)
SETTINGS = """
from config.settings import *  # noqa: F403
from config.settings import MIDDLEWARE

MIDDLEWARE = ["csp_header.StrictCSP", *MIDDLEWARE]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
}
STATIC_ROOT = STATIC_ROOT_DIR  # noqa: F821
"""
CSP_MIDDLEWARE = f"""
class StrictCSP:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["Content-Security-Policy"] = {CSP!r}
        return response
"""
HISTORY = """
from datetime import timedelta
from django.utils import timezone
from railops_django import health
from railops_django.health import history
import math
report = health.run("default", include_container=False)
base = {row["name"]: row["value"] for row in report.extras["metrics"]}
now = timezone.now()
for step, hours in enumerate(range(96, -1, -6)):  # four days, oldest first, values that move
    for row in report.extras["metrics"]:
        if isinstance(row["value"], (int, float)) and not isinstance(row["value"], bool):
            row["value"] = base[row["name"]] * (1 + 0.02 * step + 0.1 * math.sin(step))
    history.record(report, "default", now=now - timedelta(hours=hours))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "RAILOPS_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "DEBUG": "False",
            "SECRET_KEY": "browser-test-" + "k" * 50,
            "DJANGO_SETTINGS_MODULE": "browser_settings",
            "PYTHONPATH": os.pathsep.join([str(tmp), str(EXAMPLE), str(ROOT)]),
            "RAILOPS_BACKUP_DIR": str(tmp / "backups"),
            "SECURE_SSL_REDIRECT": "False",
            "DJANGO_SUPERUSER_PASSWORD": "pw-browser-1",
        }
    )
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    database_url = request.getfixturevalue("database_url")
    (tmp_path / "browser_settings.py").write_text(
        f"STATIC_ROOT_DIR = {str(tmp_path / 'static')!r}\n" + SETTINGS
    )
    (tmp_path / "csp_header.py").write_text(CSP_MIDDLEWARE)
    env = _env(tmp_path, database_url)
    # as on Railway: the pre-deploy command (backup, release, migrate, collectstatic, health)
    _manage(env, "railway_deploy")
    _manage(env, "createsuperuser", "--noinput", "--username", "ops", "--email", "o@x.test")
    _manage(env, "shell", "-c", HISTORY)
    _manage(env, "backup", "create")
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--chdir",
            str(EXAMPLE),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/railops/health/live/", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (.ci/run installs them)")
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _failed_requests(driver: Any) -> list[str]:
    failed = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.responseReceived":
            response = params["response"]
            if response["status"] >= 400:
                failed.append(f"{response['status']} {response['url']}")
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(f"failed {params.get('errorText')}")
    return failed


def _visit_every_page(base: str, driver: Any, shots: Path) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    driver.get(base + "/railops/")
    assert "/admin/login/" in driver.current_url
    driver.find_element(By.NAME, "username").send_keys("ops")
    driver.find_element(By.NAME, "password").send_keys("pw-browser-1")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    charts: dict[str, int] = {}
    driver.get_log("browser")
    driver.get_log("performance")
    for name, path in PAGES.items():
        driver.get(base + path)
        assert driver.current_url == base + path, driver.current_url
        assert driver.find_elements(By.CSS_SELECTOR, "nav.railops-nav a.current")
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == [], f"{name}: {errors}"
        assert _failed_requests(driver) == [], name
        charts[name] = len(driver.find_elements(By.CSS_SELECTOR, "svg.railops-chart"))
        shots.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shots / f"dashboard-{name}.png"))
    # Readable on a phone: at 390 px nothing pushes the page sideways (wide tables scroll
    # inside their own box).
    driver.set_window_size(390, 844)
    for name, path in PAGES.items():
        driver.get(base + path)
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 1, f"{name} is {overflow} px wider than a phone's screen"
    driver.save_screenshot(str(shots / "dashboard-history-phone.png"))
    return charts


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'browser.sqlite3'}"


def _check(base: str, browser: Any, tmp_path: Path, vendor: str) -> None:
    shots = Path(os.environ.get("RAILOPS_SCREENSHOTS", tmp_path / "shots")) / vendor
    charts = _visit_every_page(base, browser, shots)
    assert charts["history"] >= 2, charts  # recorded metrics, drawn
    assert charts["backups"] == 2, charts  # size and age
    assert all((shots / f"dashboard-{n}.png").stat().st_size > 5000 for n in PAGES)


def test_dashboard__chromium_on_sqlite__every_page_clean(
    served: str, browser: Any, tmp_path: Path
) -> None:
    _check(served, browser, tmp_path, "sqlite")


@pytest.mark.postgres
class TestOnPostgres:
    @pytest.fixture
    def database_url(self) -> Iterator[str]:
        from django.db import connection

        name = f"railops_browser_{os.getpid()}"
        settings_dict = connection.settings_dict
        host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or "5432"
        user = settings_dict["USER"] or "postgres"
        admin = ["psql", "-h", host, "-p", str(port), "-U", user, "-qAtc"]
        subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}"', "postgres"], check=True)
        subprocess.run([*admin, f'CREATE DATABASE "{name}"', "postgres"], check=True)
        try:
            yield f"postgres://{user}@{host}:{port}/{name}"
        finally:
            subprocess.run(
                [*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', "postgres"], check=False
            )

    def test_dashboard__chromium_on_postgres__every_page_clean(
        self, served: str, browser: Any, tmp_path: Path
    ) -> None:
        _check(served, browser, tmp_path, "postgres")
