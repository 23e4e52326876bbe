"""The staff dashboard: every page for staff, the history charts from recorded samples,
retention of the history, and cancelling a query (superuser, POST, CSRF, confirmation)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone

from railops_django import health
from railops_django.health import gate, history
from railops_django.models import HealthSample

PAGES = (
    "/railops/",
    "/railops/releases/",
    "/railops/backups/",
    "/railops/database/",
    "/railops/history/",
)


@pytest.fixture(autouse=True)
def _fresh_gate(settings: Any, tmp_path: Any) -> None:
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_DIR": str(tmp_path / "backups")}
    gate.clear_cache()


@pytest.fixture
def staff_client(client: Client) -> Client:
    user = get_user_model().objects.create_user("ops", password="pw-ops-1", is_staff=True)
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_page__anonymous__sent_to_the_admin_login(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={path}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_page__non_staff__403(client: Client, path: str) -> None:
    client.force_login(get_user_model().objects.create_user("plain", password="pw-plain-1"))
    assert client.get(path).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_page__staff__renders_inside_the_admin_with_no_inline_script(
    staff_client: Client, path: str
) -> None:
    response = staff_client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="railops-nav"' in html and "errornote" not in html
    # strict CSP: no inline script, no script or font from another host
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"""(src|href)=["']https?://""", html)


def _samples(days: int, per_day: int) -> None:
    report = health.run("default", include_container=False)
    now = timezone.now()
    for i in range(days * per_day):
        history.record(report, "default", now=now - timedelta(hours=i * 24 / per_day))


@pytest.mark.django_db
def test_history__recorded_samples__drawn_as_svg_charts_per_range(staff_client: Client) -> None:
    _samples(days=3, per_day=4)
    page = staff_client.get("/railops/history/?range=7d").content.decode()
    charts = re.findall(r"<svg class=\"railops-chart\"[^>]*aria-label=\"([^\"]+)\"", page)
    assert any("Database size" in c or "Round trip" in c for c in charts), charts
    assert all("samples" in c for c in charts)
    assert page.count("<polyline") == len(charts)
    day = staff_client.get("/railops/history/?range=24h").content.decode()
    counts_24h = [int(n) for n in re.findall(r", (\d+) samples", day)]
    counts_7d = [int(n) for n in re.findall(r", (\d+) samples", page)]
    assert max(counts_24h) < max(counts_7d) == 12


@pytest.mark.django_db
def test_history__no_samples__says_how_to_record(staff_client: Client) -> None:
    page = staff_client.get("/railops/history/").content.decode()
    assert "db_health --record" in page and "railops-chart" not in page


@pytest.mark.django_db
def test_record__keeps_health_history_days_only(settings: Any) -> None:
    report = health.run("default", include_container=False)
    now = timezone.now()
    for days_ago in (5, 3, 1):
        history.record(report, "default", now=now - timedelta(days=days_ago))
    assert HealthSample.objects.count() == 3  # the default keeps 30 days
    settings.RAILOPS = {**settings.RAILOPS, "HEALTH_HISTORY_DAYS": 2}
    finding = history.record(report, "default", now=now)
    assert HealthSample.objects.count() == 2  # 1 day ago and now
    assert finding.data["pruned"] == 2 and finding.data["metrics"] > 0


def test_sample_of__labels_in_the_key_and_non_numbers_left_out() -> None:
    from railops_django.report import Report

    report = Report("db_health")
    report.extras["metrics"] = [
        {"name": "railops_pg_sequence", "value": 12.5, "labels": {"sequence": "public.s"}},
        {"name": "railops_db_latency", "value": 1, "labels": {}},
        {"name": "railops_x", "value": None, "labels": {}},
        {"name": "railops_y", "value": True, "labels": {}},
    ]
    assert history.sample_of(report)["metrics"] == {
        "railops_pg_sequence{sequence=public.s}": 12.5,
        "railops_db_latency": 1.0,
    }


@pytest.mark.django_db
def test_cancel__staff_not_superuser__403(staff_client: Client) -> None:
    assert (
        staff_client.post("/railops/database/cancel/", {"pid": 1, "confirm": "yes"}).status_code
        == 403
    )


@pytest.mark.django_db
def test_cancel__get__405(client: Client) -> None:
    admin = get_user_model().objects.create_superuser("root", password="pw-root-1")
    client.force_login(admin)
    assert client.get("/railops/database/cancel/").status_code == 405


@pytest.mark.django_db
def test_cancel__without_csrf_token__403() -> None:
    client = Client(enforce_csrf_checks=True)
    admin = get_user_model().objects.create_superuser("root", password="pw-root-1")
    client.force_login(admin)
    assert client.post("/railops/database/cancel/", {"pid": 1, "confirm": "yes"}).status_code == 403


@pytest.mark.django_db
def test_cancel__unconfirmed__nothing_cancelled(client: Client) -> None:
    admin = get_user_model().objects.create_superuser("root", password="pw-root-1")
    client.force_login(admin)
    response = client.post("/railops/database/cancel/", {"pid": "1"}, follow=True)
    assert "tick the box to confirm pid 1" in response.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancel__superuser_confirms__the_running_query_is_cancelled(client: Client) -> None:
    settings_dict = connection.settings_dict
    dsn = (
        f"host={settings_dict['HOST'] or '127.0.0.1'} port={settings_dict['PORT'] or 5432} "
        f"dbname={settings_dict['NAME']} user={settings_dict['USER']}"
    )
    sleeper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import psycopg,sys\n"
            f"c=psycopg.connect({dsn!r})\n"
            "try:\n c.execute('select pg_sleep(30)')\n"
            "except psycopg.errors.QueryCanceled:\n sys.exit(7)\n",
        ],
    )
    try:
        pid = None
        for _ in range(100):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE query = 'select pg_sleep(30)' "
                    "AND datname = current_database()"
                )
                row = cursor.fetchone()
            if row:
                pid = row[0]
                break
            time.sleep(0.1)
        assert pid is not None
        admin = get_user_model().objects.create_superuser("root", password="pw-root-1")
        client.force_login(admin)
        page = client.get("/railops/database/").content.decode()
        assert f'name="pid" value="{pid}"' in page
        response = client.post(
            "/railops/database/cancel/", {"pid": pid, "confirm": "yes"}, follow=True
        )
        assert f"Cancel request sent to pid {pid}" in response.content.decode()
        assert sleeper.wait(timeout=10) == 7
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.django_db
def test_db_health_record__one_sample_per_run_and_a_finding() -> None:
    import json

    from tests.utils import run_command

    out, err, code = run_command("db_health", "--record", "--format", "json")
    assert code in (0, 1), err
    ids = [f["id"] for f in json.loads(out)["findings"]]
    assert "health.history.recorded" in ids
    sample = HealthSample.objects.get()
    assert sample.database == "default" and sample.metrics
    assert any(key.startswith("railops_db_latency") for key in sample.metrics)


@pytest.mark.django_db
def test_db_health_record_with_watch__exit_3_one_line() -> None:
    from tests.utils import run_command

    _, err, code = run_command("db_health", "--record", "--watch", "5")
    assert code == 3 and len(err.strip().splitlines()) == 1 and "cron" in err
    assert not HealthSample.objects.exists()
