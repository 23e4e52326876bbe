from __future__ import annotations

import pytest
from django.test import override_settings

from railops_django.diagnose import settings as probes
from railops_django.diagnose import static_probes
from railops_django.report import Severity

PUBLIC = "shop.up.railway.app"


@pytest.fixture
def on_railway(monkeypatch):
    monkeypatch.setenv("RAILWAY_ENVIRONMENT_NAME", "production")
    monkeypatch.setenv("RAILWAY_PUBLIC_DOMAIN", PUBLIC)
    monkeypatch.setenv("SECRET_KEY", "s" * 10 + "0123456789abcdefghijklmnopqrstuvwxyz0123456789")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@postgres.railway.internal:5432/railway")


HEALTHY = dict(
    ALLOWED_HOSTS=[PUBLIC, "healthcheck.railway.app"],
    CSRF_TRUSTED_ORIGINS=[f"https://{PUBLIC}"],
    DEBUG=False,
)


def _one(findings, fid):
    matches = [f for f in findings if f.id == fid]
    assert len(matches) == 1, [f.id for f in findings]
    return matches[0]


def test_static_probes__healthy_railway_settings__no_warning(on_railway):
    with override_settings(**HEALTHY):
        assert [f for f in static_probes() if f.severity >= Severity.WARNING] == []


def test_debug__on_in_production__critical(on_railway):
    with override_settings(**{**HEALTHY, "DEBUG": True}):
        f = _one(probes.debug(), "diagnose.settings.debug")
    assert f.severity is Severity.CRITICAL and f.rank == 4


def test_debug__on_locally__not_reported():
    with override_settings(DEBUG=True):
        assert probes.debug() == []


@pytest.mark.parametrize("key", ["django-insecure-" + "a1b2c3d4e5" * 6, "short-key"])
def test_secret_key__weak_in_production__critical(on_railway, key):
    with override_settings(SECRET_KEY=key):
        f = _one(probes.secret_key(), "diagnose.settings.secret_key")
    assert f.severity is Severity.CRITICAL and f.rank == 12


def test_allowed_hosts__public_domain_missing__critical(on_railway):
    with override_settings(**{**HEALTHY, "ALLOWED_HOSTS": ["healthcheck.railway.app"]}):
        f = _one(probes.allowed_hosts(), "diagnose.allowed_hosts.public_domain")
    assert f.severity is Severity.CRITICAL and f.rank == 5 and PUBLIC in f.fix


def test_allowed_hosts__dot_prefix_pattern__accepts_public_domain(on_railway):
    with override_settings(
        **{**HEALTHY, "ALLOWED_HOSTS": [".up.railway.app", "healthcheck.railway.app"]}
    ):
        assert probes.allowed_hosts() == []


def test_allowed_hosts__custom_domain_missing__critical(on_railway):
    with override_settings(
        **HEALTHY, RAILOPS={"CUSTOM_DOMAINS": ["shop.example.com"], "HEALTHCHECK_PATH": "/healthz"}
    ):
        f = _one(probes.allowed_hosts(), "diagnose.allowed_hosts.custom_domain")
    assert f.severity is Severity.CRITICAL and f.rank == 6


def test_allowed_hosts__healthcheck_host_missing__critical(on_railway):
    with override_settings(**{**HEALTHY, "ALLOWED_HOSTS": [PUBLIC]}):
        f = _one(probes.allowed_hosts(), "diagnose.allowed_hosts.healthcheck")
    assert f.severity is Severity.CRITICAL and f.rank == 7


def test_allowed_hosts__wildcard_in_production__warning(on_railway):
    with override_settings(**{**HEALTHY, "ALLOWED_HOSTS": ["*"]}):
        f = _one(probes.allowed_hosts(), "diagnose.allowed_hosts.wildcard")
    assert f.severity is Severity.WARNING and f.rank == 45


def test_csrf__origin_without_scheme__critical(on_railway):
    with override_settings(**{**HEALTHY, "CSRF_TRUSTED_ORIGINS": [PUBLIC]}):
        findings = probes.csrf_trusted_origins()
    f = _one(findings, "diagnose.csrf.origin_scheme")
    assert f.severity is Severity.CRITICAL and f.rank == 8
    assert _one(findings, "diagnose.csrf.public_origin").severity is Severity.WARNING


def test_csrf__public_origin_missing__warning(on_railway):
    with override_settings(**{**HEALTHY, "CSRF_TRUSTED_ORIGINS": []}):
        f = _one(probes.csrf_trusted_origins(), "diagnose.csrf.public_origin")
    assert f.severity is Severity.WARNING and f.rank == 30 and f"https://{PUBLIC}" in f.fix


def test_ssl__redirect_without_proxy_header__critical_loop(on_railway):
    with override_settings(**HEALTHY, SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=None):
        f = _one(probes.ssl_proxy(), "diagnose.ssl.redirect_loop")
    assert f.severity is Severity.CRITICAL and f.rank == 4


def test_ssl__proxy_header_missing_on_railway__warning(on_railway):
    with override_settings(**HEALTHY, SECURE_SSL_REDIRECT=False, SECURE_PROXY_SSL_HEADER=None):
        f = _one(probes.ssl_proxy(), "diagnose.ssl.proxy_header")
    assert f.severity is Severity.WARNING and f.rank == 25


def test_ssl__healthcheck_not_exempt__critical(on_railway):
    with override_settings(**HEALTHY, SECURE_SSL_REDIRECT=True, SECURE_REDIRECT_EXEMPT=[]):
        f = _one(probes.ssl_proxy(), "diagnose.ssl.healthcheck_redirect")
    # example_project's healthcheck is railops' own gate; the fix names that exact path
    assert f.severity is Severity.CRITICAL and f.rank == 7 and "^railops/health/" in f.fix


def test_healthcheck_path__read_from_railway_json_when_not_configured(settings, tmp_path):
    (tmp_path / "railway.json").write_text('{"deploy": {"healthcheckPath": "/up"}}')
    settings.RAILOPS = {}
    settings.BASE_DIR = tmp_path
    assert probes.healthcheck_path() == "/up"


def test_cors__origins_without_scheme_and_wrong_order__two_warnings(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "corsheaders.middleware.CorsMiddleware"]
    settings.CORS_ALLOWED_ORIGINS = ["app.example.com", "https://ok.example.com"]
    findings = probes.cors()
    scheme = _one(findings, "diagnose.cors.origin_scheme")
    order = _one(findings, "diagnose.cors.middleware_order")
    assert scheme.severity is order.severity is Severity.WARNING
    assert scheme.rank == order.rank == 50 and "app.example.com" in scheme.detail


def test_cors__right_order__silent(settings):
    settings.MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware", *settings.MIDDLEWARE]
    settings.CORS_ALLOWED_ORIGINS = ["https://ok.example.com"]
    assert probes.cors() == []
