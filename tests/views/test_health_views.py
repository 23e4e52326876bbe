"""railops/health/, railops/health/live/, railops/metrics/ and the dashboard, through Django's
test client on the real test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client

from railops_django.health import gate

TOKEN = "tok-0123456789abcdef"
HEALTHCHECK = {"HTTP_HOST": "healthcheck.railway.app"}


@pytest.fixture(autouse=True)
def _fresh_gate(settings: Any) -> Iterator[None]:
    settings.RAILOPS = {**settings.RAILOPS, "HEALTH_TOKEN": TOKEN}
    gate.clear_cache()
    yield
    gate.clear_cache()


def _get(client: Client, path: str, **headers: str) -> tuple[int, Any]:
    response = client.get(path, **{**HEALTHCHECK, **headers})
    body = response.content.decode()
    return response.status_code, json.loads(body) if response["Content-Type"].startswith(
        "application/json"
    ) else body


@pytest.mark.django_db
def test_health__healthy__200_ok_with_no_details_for_anonymous(client: Client) -> None:
    status, body = _get(client, "/railops/health/")
    assert status == 200
    assert body == {"status": "ok", "failing": []}


@pytest.mark.django_db
def test_health__token__adds_the_report_with_timings(client: Client) -> None:
    status, body = _get(client, "/railops/health/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert status == 200
    ids = {f["id"] for f in body["report"]["findings"]}
    assert {"health.gate.database", "health.gate.migrations", "schema.drift"} <= ids
    assert set(body["report"]["timings_ms"]) == {"database", "checks"}
    # a wrong token is an anonymous caller
    status, body = _get(client, "/railops/health/", HTTP_AUTHORIZATION="Bearer nope")
    assert status == 200 and "report" not in body


@pytest.mark.django_db
def test_health__staff_user__sees_details(client: Client) -> None:
    staff = get_user_model().objects.create_user("ops", password="pw-ops-1", is_staff=True)
    client.force_login(staff)
    _, body = _get(client, "/railops/health/")
    assert "report" in body


@pytest.mark.django_db
def test_health__column_dropped_behind_djangos_back__503_names_the_drift(client: Client) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE shop_product DROP COLUMN stock")
    status, body = _get(client, "/railops/health/")
    assert status == 503
    assert body["status"] == "fail"
    assert body["failing"] == ["schema.drift.missing_column"]


@pytest.mark.django_db
def test_health__migration_recorded_as_unapplied__503_pending(client: Client) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'orders' AND name = "
            "(SELECT max(name) FROM django_migrations WHERE app = 'orders')"
        )
    status, body = _get(client, "/railops/health/")
    assert status == 503
    assert "health.gate.migrations" in body["failing"]


@pytest.mark.django_db
def test_health__manifest_storage_without_manifest__503(
    client: Client, settings: Any, tmp_path: Any
) -> None:
    settings.STATIC_ROOT = str(tmp_path)  # empty: collectstatic never ran
    settings.STORAGES = {  # Django's setting_changed handler resets staticfiles_storage
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    status, body = _get(client, "/railops/health/")
    assert status == 503
    assert "diagnose.static.manifest_missing" in body["failing"]


@pytest.mark.django_db
def test_health__slow_checks_cached__one_round_trip_per_request(client: Client) -> None:
    _get(client, "/railops/health/")  # warms the cache
    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        status, _ = _get(client, "/railops/health/")
    assert status == 200
    assert queries == ["SELECT 1"]


@pytest.mark.django_db(transaction=True)
def test_health__database_unreachable__503_with_the_connection_cause(client: Client) -> None:
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    conn.close()
    if conn.vendor == "sqlite":
        conn.settings_dict["NAME"] = "/nonexistent-railops-dir/db.sqlite3"
    else:
        conn.settings_dict.update({"HOST": "127.0.0.1", "PORT": "1"})
    try:
        status, body = _get(client, "/railops/health/")
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
    assert status == 503
    assert len(body["failing"]) == 1 and body["failing"][0].startswith("health.gate.connect.")


def test_live__touches_nothing__200(client: Client) -> None:
    # No django_db mark: any database access here raises, so this proves the view needs none.
    status, body = _get(client, "/railops/health/live/")
    assert (status, body) == (200, {"status": "ok"})


@pytest.mark.django_db
def test_metrics__needs_the_token_or_staff(client: Client) -> None:
    response = client.get("/railops/metrics/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/railops/metrics/", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/railops/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert ok.status_code == 200
    text = ok.content.decode()
    assert text.rstrip().endswith("# EOF") and "railops_status" in text
    assert ok["Content-Type"].startswith("application/openmetrics-text")
    user = get_user_model().objects.create_user("plain", password="pw-plain-1")
    client.force_login(user)
    assert client.get("/railops/metrics/").status_code == 403


@pytest.mark.django_db
def test_dashboard__anonymous_to_login__non_staff_403__staff_sees_sections(client: Client) -> None:
    response = client.get("/railops/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/railops/")
    plain = get_user_model().objects.create_user("plain", password="pw-plain-1")
    client.force_login(plain)
    assert client.get("/railops/").status_code == 403
    staff = get_user_model().objects.create_user("ops", password="pw-ops-1", is_staff=True)
    client.force_login(staff)
    page = client.get("/railops/")
    assert page.status_code == 200
    html = page.content.decode()
    for title in ("Health", "Releases", "Backups"):
        assert f"<h2>{title}" in html


@pytest.mark.django_db
def test_views__no_secret_in_any_body(client: Client, settings: Any, monkeypatch: Any) -> None:
    canary = "Canary-pw-7a1f9c3e55"
    monkeypatch.setenv("STRIPE_SECRET_KEY", canary)
    settings.SECRET_KEY = f"sk-{canary}-0123456789abcdefghijklmnopqrstuvwxyz"
    staff = get_user_model().objects.create_user("ops", password="pw-ops-1", is_staff=True)
    client.force_login(staff)
    bodies = [
        client.get(path, **HEALTHCHECK, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
        for path in ("/railops/health/", "/railops/metrics/", "/railops/")
    ]
    for body in bodies:
        assert canary not in body
        assert TOKEN not in body


def test_known_secrets__railops_health_token_setting__masked(settings: Any) -> None:
    from railops_django import redact

    assert TOKEN in redact.known_secrets()
    assert TOKEN not in redact.mask_text(f"Authorization: Bearer {TOKEN}")


@pytest.mark.postgres
@pytest.mark.django_db
def test_health__conn_health_checks_on__one_select_1_per_request(client: Client) -> None:
    """Django's CONN_HEALTH_CHECKS runs its own SELECT 1 at a request's first query; the gate's
    round trip is that check, so a request costs one, not two."""
    _get(client, "/railops/health/")  # warms the cache and opens the connection
    saved = connection.settings_dict["CONN_HEALTH_CHECKS"]
    connection.settings_dict["CONN_HEALTH_CHECKS"] = True
    sent: list[str] = []
    is_usable = connection.is_usable

    def usable() -> bool:  # Django's own health check: a SELECT 1 on a raw cursor
        sent.append("SELECT 1 (CONN_HEALTH_CHECKS)")
        return is_usable()

    def count(execute_: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute_(sql, params, many, context)

    connection.is_usable = usable
    try:
        connection.health_check_enabled = True
        connection.health_check_done = False  # as at the start of a request
        with connection.execute_wrapper(count):
            gate.run("default")
    finally:
        del connection.is_usable
        connection.settings_dict["CONN_HEALTH_CHECKS"] = saved
        connection.health_check_enabled = saved
    assert sent == ["SELECT 1"], sent


@pytest.mark.django_db(transaction=True)
def test_health__migrate_in_this_process__cached_checks_forgotten(client: Client) -> None:
    from django.core.management import call_command

    assert _get(client, "/railops/health/")[0] == 200  # cached: every migration applied
    call_command("migrate", "orders", "0001", verbosity=0)
    try:
        status, body = _get(client, "/railops/health/")  # no clear_cache(): post_migrate did it
    finally:
        call_command("migrate", "orders", verbosity=0)
    assert status == 503 and "health.gate.migrations" in body["failing"]
