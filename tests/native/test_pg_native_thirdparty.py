"""A round trip on a project that adds a reusable app from PyPI with data migrations.

django-constance's migrations 0002 and 0003 are RunPython data migrations; its database
backend keeps the live settings in ``constance_constance``.
"""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.checks.registry import registry as checks
from django.test import override_settings

from railops_django.db.postgres import native as pg_native

from .seed import AWKWARD, seed

pytestmark = pytest.mark.postgres
pytest.importorskip("constance")


@pytest.fixture
def isolated_app_ready():
    """Installing an app runs its ready(): undo what constance registers globally."""
    admin_registry = dict(admin.site._registry)
    registered = (set(checks.registered_checks), set(checks.deployment_checks))
    yield
    admin.site._registry.clear()
    admin.site._registry.update(admin_registry)
    checks.registered_checks, checks.deployment_checks = registered


def test_round_trip__third_party_app_with_data_migrations__identical_checksums(
    scratch, monkeypatch, isolated_app_ready
):
    # constance reads its settings into module constants on first import.
    monkeypatch.setattr("constance.settings.BACKEND", "constance.backends.database.DatabaseBackend")
    with override_settings(
        INSTALLED_APPS=[*settings.INSTALLED_APPS, "constance"],
        CONSTANCE_BACKEND="constance.backends.database.DatabaseBackend",
        CONSTANCE_CONFIG={"SITE_NAME": ("Shop", "name"), "MAX_ITEMS": (10, "limit")},
    ):
        from constance.models import Constance

        db = scratch(migrated=False)
        db.migrate()
        seed(db.alias, n=5)
        Constance.objects.using(db.alias).create(key="SITE_NAME", value=f'"{AWKWARD[:30]}"')
        Constance.objects.using(db.alias).create(key="MAX_ITEMS", value=None)
        before = db.checksums()
        out = io.BytesIO()
        info = pg_native.dump(db.alias, out)
        out.seek(0)
        assert info["tables"]["constance_constance"]["rows"] == 2
        assert "0003_drop_pickle" in info["migrations"]["constance"]

        db.recreate_empty()
        pg_native.restore(db.alias, out, info)

        assert db.checksums() == before
