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


def test_fold__reexpressed_ids__not_duplicated():
    with override_settings(DEBUG=True, SECRET_KEY="short"):
        ids = {f.id for f in checks.django_check_findings()}
    assert "django.security.W018" not in ids and "django.security.W009" not in ids


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
