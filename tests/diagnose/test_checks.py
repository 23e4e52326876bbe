from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from railops_django.diagnose import checks
from railops_django.report import Severity


def test_fold__django_deploy_warning__appears_as_django_finding():
    with override_settings(SECURE_HSTS_SECONDS=0):
        found = {f.id: f for f in checks.django_check_findings()}
    f = found["django.security.W004"]
    assert f.severity is Severity.WARNING and f.rank == 55 and f.fix


def test_fold__reexpressed_message__one_finding_under_django_id_with_probe_fix():
    from railops_django.diagnose import settings as probes

    with override_settings(SECRET_KEY="short", CSRF_TRUSTED_ORIGINS=["shop.up.railway.app"]):
        merged = checks.merge_reexpressed(
            [*probes.secret_key(), *probes.csrf_trusted_origins(), *checks.django_check_findings()]
        )
    ids = [f.id for f in merged]
    assert ids.count("django.security.W009") == 1 and ids.count("django.4_0.E001") == 1
    assert "diagnose.csrf.origin_scheme" not in ids and "diagnose.settings.secret_key" not in ids
    csrf = next(f for f in merged if f.id == "django.4_0.E001")
    assert csrf.severity is Severity.CRITICAL and "'https://shop.up.railway.app'" in csrf.fix
    assert csrf.data["probe"] == "diagnose.csrf.origin_scheme"


def test_fold__django_message_no_probe_reexpressed__kept_as_django():
    with override_settings(DEBUG=True):  # our DEBUG probe fires in production only
        merged = checks.merge_reexpressed(checks.django_check_findings())
    assert "django.security.W018" in {f.id for f in merged}


def test_fold__check_raising_import_error__critical_load_failure_and_other_checks_run():
    def broken_check(app_configs=None, **kwargs):
        raise ModuleNotFoundError("No module named 'nosuchpkg'", name="nosuchpkg")

    from django.core.checks.registry import registry

    registry.register(broken_check, deploy=True)
    try:
        with override_settings(SECURE_HSTS_SECONDS=0):
            found = checks.django_check_findings()
    finally:
        registry.deployment_checks.discard(broken_check)
    failure = next(f for f in found if f.id == "diagnose.app.load_failed")
    assert failure.severity is Severity.CRITICAL and failure.rank == 0
    assert "nosuchpkg" in failure.title and "broken_check" in failure.detail
    assert "django.security.W004" in {f.id for f in found}


def test_fold__check_with_railops_bug__warning_not_critical():
    def buggy_check(app_configs=None, **kwargs):
        return [][1]

    from django.core.checks.registry import registry

    registry.register(buggy_check)
    try:
        found = checks.django_check_findings()
    finally:
        registry.registered_checks.discard(buggy_check)
    crash = next(f for f in found if f.id == "diagnose.check_crashed")
    assert crash.severity is Severity.WARNING and "buggy_check" in crash.title


def test_fold__silenced_check__left_out():
    with override_settings(SECURE_HSTS_SECONDS=0, SILENCED_SYSTEM_CHECKS=["security.W004"]):
        ids = {f.id for f in checks.django_check_findings()}
    assert "django.security.W004" not in ids


def test_system_check__registered_with_deploy_tag__check_deploy_shows_it(monkeypatch, capsys):
    monkeypatch.setenv("RAILWAY_ENVIRONMENT_NAME", "production")
    monkeypatch.setenv("RAILWAY_PUBLIC_DOMAIN", "shop.up.railway.app")
    with (
        override_settings(ALLOWED_HOSTS=["healthcheck.railway.app"]),
        pytest.raises(SystemCheckError) as exc,
    ):
        call_command("check", "--deploy", "--tag", "railway")
    assert "diagnose.allowed_hosts.public_domain" in str(exc.value)


def test_system_check__not_deploy__does_not_run(monkeypatch):
    monkeypatch.setenv("RAILWAY_ENVIRONMENT_NAME", "production")
    monkeypatch.setenv("RAILWAY_PUBLIC_DOMAIN", "shop.up.railway.app")
    with override_settings(ALLOWED_HOSTS=["healthcheck.railway.app"]):
        call_command("check")  # raises if our deploy-only check ran


def test_fold__django_error__critical_rank_15():
    with override_settings(SECURE_REFERRER_POLICY="no-such-policy"):
        found = {f.id: f for f in checks.django_check_findings()}
    f = found["django.security.E023"]
    assert f.severity is Severity.CRITICAL and f.rank == 15


def test_system_check__probe_reexpressing_django_error__check_shows_it_once(capsys):
    with (
        override_settings(CSRF_TRUSTED_ORIGINS=["shop.up.railway.app"]),
        pytest.raises(SystemCheckError) as exc,
    ):
        call_command("check", "--deploy")
    assert "4_0.E001" in str(exc.value) and "diagnose.csrf.origin_scheme" not in str(exc.value)


def test_system_check__probe_more_severe_than_django__adds_its_error(monkeypatch):
    monkeypatch.setenv("RAILWAY_ENVIRONMENT_NAME", "production")
    with override_settings(SECRET_KEY="short"), pytest.raises(SystemCheckError) as exc:
        call_command("check", "--deploy", "--tag", "railway")
    assert "diagnose.settings.secret_key" in str(exc.value)
