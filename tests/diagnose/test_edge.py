from __future__ import annotations

import pytest
from django.core import mail
from shop.models import Category

from railops_django.diagnose import edge
from railops_django.report import Severity

pytestmark = pytest.mark.django_db


@pytest.fixture
def faults(settings):
    settings.ROOT_URLCONF = "tests.diagnose.faults"


def test_replay__healthy_root__info_200():
    f = edge.replay("/")
    assert f.id == "diagnose.edge.root" and f.severity is Severity.INFO and f.data["status"] == 200


def test_replay__view_raises__critical_with_exception_and_project_frame(faults):
    f = edge.replay("/boom/")
    assert f.id == "diagnose.edge.url" and f.severity is Severity.CRITICAL and f.rank == 15
    assert f.data["status"] == 500 and f.data["cause"] == "KeyError"
    assert "tests/diagnose/faults.py" in f.data["where"] and "in boom" in f.data["where"]


def test_replay__unknown_host__disallowed_host_critical():
    f = edge.replay("/", host="evil.example.com")
    assert f.severity is Severity.CRITICAL and f.rank == 5
    assert f.data["status"] == 400 and f.data["cause"] == "DisallowedHost"


def test_replay__ssl_redirect_without_proxy_header__redirect_loop(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = None
    f = edge.replay("/")
    assert f.severity is Severity.CRITICAL and f.rank == 4 and f.data["cause"] == "redirect_loop"


def test_replay__healthcheck_redirected__critical(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = []
    f = edge.replay("/healthz", "healthcheck.railway.app", healthcheck=True)
    assert f.id == "diagnose.edge.healthcheck" and f.severity is Severity.CRITICAL and f.rank == 7
    assert f.data["status"] == 301


def test_replay__healthcheck_404__critical():
    f = edge.replay("/no-such-health", "healthcheck.railway.app", healthcheck=True)
    assert f.severity is Severity.CRITICAL and f.data["status"] == 404


def test_replay__view_writes_and_mails_admins__nothing_persists_or_leaves(
    faults, settings, tmp_path
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    before = Category.objects.count()
    outbox = list(getattr(mail, "outbox", []))
    ok = edge.replay("/writes/")
    crashed = edge.replay("/writes-then-crashes/")
    assert ok.data["status"] == 200 and crashed.data["status"] == 500
    assert Category.objects.count() == before
    assert not (tmp_path / "mail").exists() or not any((tmp_path / "mail").iterdir())
    assert list(getattr(mail, "outbox", [])) == outbox


def test_replay__form_post_without_token__csrf_critical():
    f = edge.replay("/admin/login/", method="POST")
    assert f.severity is Severity.CRITICAL and f.rank == 8
    assert f.data["status"] == 403 and f.data["cause"] == "csrf" and "CSRF" in f.detail
    assert f.title.startswith("POST /admin/login/")


@pytest.mark.postgres
def test_replay__view_stuck_in_the_database__bounded_by_statement_timeout(faults):
    import time

    started = time.monotonic()
    f = edge.replay("/sleeps/", timeout=0.5)
    assert time.monotonic() - started < 3
    assert f.severity is Severity.CRITICAL and f.data["status"] == 500
    assert f.data["cause"] == "OperationalError" or "QueryCanceled" in f.detail
