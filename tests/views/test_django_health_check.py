"""railops' gate as django-health-check plugins, served by django-health-check's own view."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from railops_django.health import gate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.views.hc_urls"
    gate.clear_cache()


def _results(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/ht/", HTTP_ACCEPT="application/json")
    return response.status_code, json.loads(response.content)


def test_plugins__healthy__every_railops_check_ok(client: Client) -> None:
    status, body = _results(client)
    assert status == 200, body
    assert len(body) == 4 and all(v == "OK" for v in body.values()), body


def test_plugins__column_dropped__gate_and_drift_fail_manifest_stays_ok(client: Client) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE shop_product DROP COLUMN stock")
    try:
        status, body = _results(client)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE shop_product ADD COLUMN stock integer NOT NULL DEFAULT 0")
    assert status == 500
    failed = {k for k, v in body.items() if v != "OK"}
    assert {k.split("(")[0] for k in failed} == {"DeployGate", "SchemaDrift"}, body
    assert any("schema.drift.missing_column" in body[k] for k in failed)
