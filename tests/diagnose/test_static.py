from __future__ import annotations

import json

import pytest

from railops_django.diagnose import static
from railops_django.diagnose.runner import Context
from railops_django.report import Severity

MANIFEST = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


@pytest.fixture
def manifest_storage(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST}}
    return tmp_path / "staticfiles"


def test_manifest__storage_without_manifest__critical(manifest_storage):
    (f,) = static.manifest(Context())
    assert (
        f.id == "diagnose.static.manifest_missing"
        and f.severity is Severity.CRITICAL
        and f.rank == 11
    )


def test_manifest__template_path_absent_from_manifest__critical(manifest_storage):
    manifest_storage.mkdir()
    paths = {"shop/site.css": "shop/site.abc123.css"}  # shop/logo.svg was never collected
    (manifest_storage / "staticfiles.json").write_text(
        json.dumps({"paths": paths, "version": "1.1"})
    )
    (f,) = static.manifest(Context())
    assert (
        f.id == "diagnose.static.manifest_entry_missing"
        and f.severity is Severity.CRITICAL
        and f.rank == 11
    )
    assert f.data["path"] == "shop/logo.svg" and "product_list.html:4" in f.data["template"]


def test_manifest__corrupt_manifest__critical(manifest_storage):
    manifest_storage.mkdir()
    (manifest_storage / "staticfiles.json").write_text("{not json")
    (f,) = static.manifest(Context())
    assert f.id == "diagnose.static.manifest_unreadable" and f.severity is Severity.CRITICAL


def test_manifest__complete_manifest__no_finding(manifest_storage):
    manifest_storage.mkdir()
    paths = {"shop/site.css": "shop/site.1.css", "shop/logo.svg": "shop/logo.2.svg"}
    (manifest_storage / "staticfiles.json").write_text(
        json.dumps({"paths": paths, "version": "1.1"})
    )
    assert static.manifest(Context()) == []


def test_template_path__broken_reference_without_manifest__warning(settings, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "broken.html").write_text(
        "{% load static %}\n<img src=\"{% static 'shop/nope.png' %}\">\n"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [templates]}]
    found = [f for f in static.manifest(Context()) if f.data.get("path") == "shop/nope.png"]
    (f,) = found
    assert (
        f.id == "diagnose.static.template_path_missing"
        and f.severity is Severity.WARNING
        and f.rank == 45
    )
    assert f.data["template"].endswith("broken.html:2")


def test_static_root__unset_with_debug_off__warning(settings):
    settings.STATIC_ROOT = None
    (f,) = static.static_root()
    assert f.id == "diagnose.static.static_root" and f.severity is Severity.WARNING and f.rank == 30


def test_static_root__not_collected__info_only(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "never-collected"
    (f,) = static.static_root()
    assert f.id == "diagnose.static.not_collected" and f.severity is Severity.INFO


def test_whitenoise__missing_with_debug_off__warning(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "whitenoise" not in m]
    (f,) = static.whitenoise()
    assert (
        f.id == "diagnose.static.whitenoise_missing"
        and f.severity is Severity.WARNING
        and f.rank == 35
    )


def test_whitenoise__below_sessions__order_warning(settings):
    rest = [m for m in settings.MIDDLEWARE if "whitenoise" not in m]
    settings.MIDDLEWARE = [*rest, static.WHITENOISE]
    (f,) = static.whitenoise()
    assert (
        f.id == "diagnose.static.whitenoise_order"
        and f.severity is Severity.WARNING
        and f.rank == 50
    )


def test_whitenoise__right_after_security__silent():
    assert static.whitenoise() == []
