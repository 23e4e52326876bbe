"""Django settings probes, read the way Railway's edge will exercise them. No I/O.

Each probe re-reads ``django.conf.settings`` at call time, so ``override_settings`` and a
settings module that differs per environment are both seen as they are.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks.security import base as django_security
from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host

from .. import conf, platform
from ..report import Finding, Severity
from . import deploy_config

HEALTHCHECK_HOST = "healthcheck.railway.app"
CORS_MIDDLEWARE = "corsheaders.middleware.CorsMiddleware"


def healthcheck_path() -> str:
    """RAILOPS HEALTHCHECK_PATH, else railway.json/railway.toml's healthcheckPath."""
    configured = conf.get("HEALTHCHECK_PATH")
    if configured:
        return str(configured)
    return deploy_config.read(getattr(settings, "BASE_DIR", None)).healthcheck_path


def public_domains() -> list[str]:
    """The Railway public domain and the configured custom domains."""
    domains = [platform.railway().public_domain, *conf.get("CUSTOM_DOMAINS")]
    return [d.strip().lower() for d in domains if d and d.strip()]


def _allowed(host: str) -> bool:
    return validate_host(host, list(settings.ALLOWED_HOSTS))


def debug() -> list[Finding]:
    if settings.DEBUG and platform.railway().is_production:
        return [
            Finding(
                id="diagnose.settings.debug",
                severity=Severity.CRITICAL,
                title="DEBUG is on in production",
                detail="Every error page shows your settings and source code to the world, and "
                "Django keeps every query in memory.",
                fix="Set DEBUG=False in Railway > Variables (or DEBUG = env.bool('DEBUG', "
                "default=False) in settings).",
                rank=4,
                data={"reexpresses": "security.W018"},
            )
        ]
    return []


def secret_key() -> list[Finding]:
    try:
        key = str(getattr(settings, "SECRET_KEY", "") or "")
    except ImproperlyConfigured:  # Django refuses an empty SECRET_KEY when it is read
        key = ""
    if not key:
        return [
            Finding(
                id="diagnose.settings.secret_key",
                severity=Severity.CRITICAL,
                title="SECRET_KEY is empty",
                detail="Django raises ImproperlyConfigured the first time it needs the key "
                "(sessions, CSRF, the admin login, password resets): those pages answer 500.",
                fix="Set SECRET_KEY in Railway > Variables to 50+ random characters, e.g. "
                "${{secret(64)}}, and read it with env('SECRET_KEY').",
                rank=3,
                data={"reexpresses": "security.W009"},
            )
        ]
    weak = (
        len(set(key)) < django_security.SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or len(key) < django_security.SECRET_KEY_MIN_LENGTH
        or key.startswith(django_security.SECRET_KEY_INSECURE_PREFIX)
    )
    if not weak:
        return []
    production = platform.railway().is_production
    return [
        Finding(
            id="diagnose.settings.secret_key",
            severity=Severity.CRITICAL if production else Severity.WARNING,
            title="SECRET_KEY is weak or a generated development key",
            detail=f"It has {len(key)} characters ({len(set(key))} distinct)"
            + (", and the 'django-insecure-' prefix" if key.startswith("django-insecure-") else "")
            + ": sessions, password resets and signed cookies can be forged.",
            fix="Set SECRET_KEY in Railway > Variables to 50+ random characters, e.g. "
            "${{secret(64)}}, and read it with env('SECRET_KEY').",
            rank=12,
            data={"reexpresses": "security.W009"},
        )
    ]


def allowed_hosts() -> list[Finding]:
    findings: list[Finding] = []
    railway = platform.railway()
    hosts = list(settings.ALLOWED_HOSTS)
    for number, domain in enumerate(public_domains()):
        if not _allowed(domain):
            public = domain == railway.public_domain.lower()
            kind = "public domain" if public else "custom domain"
            findings.append(
                Finding(
                    id="diagnose.allowed_hosts." + ("public_domain" if public else "custom_domain"),
                    severity=Severity.CRITICAL,
                    title=f"ALLOWED_HOSTS does not allow the {kind} {domain}",
                    detail=f"ALLOWED_HOSTS={hosts!r}: every request to {domain} answers 400 "
                    "(DisallowedHost).",
                    fix=f"Add {domain!r} to ALLOWED_HOSTS (e.g. ALLOWED_HOSTS += "
                    "[env('RAILWAY_PUBLIC_DOMAIN')]).",
                    rank=5 + min(number, 1),
                    data={"host": domain},
                )
            )
    if healthcheck_path() and not _allowed(HEALTHCHECK_HOST):
        findings.append(
            Finding(
                id="diagnose.allowed_hosts.healthcheck",
                severity=Severity.CRITICAL,
                title=f"ALLOWED_HOSTS does not allow {HEALTHCHECK_HOST}",
                detail=f"Railway's healthcheck ({healthcheck_path()}) is sent with Host "
                f"{HEALTHCHECK_HOST}; it gets 400 and the deploy never goes live.",
                fix=f"Add {HEALTHCHECK_HOST!r} to ALLOWED_HOSTS.",
                rank=7,
            )
        )
    if "*" in hosts and railway.is_production:
        findings.append(
            Finding(
                id="diagnose.allowed_hosts.wildcard",
                severity=Severity.WARNING,
                title="ALLOWED_HOSTS is '*' in production",
                detail="Any Host header is accepted, which enables host-header poisoning of "
                "password-reset links and caches.",
                fix="List the real hosts: your public domain, custom domains and "
                f"{HEALTHCHECK_HOST}.",
                rank=45,
            )
        )
    return findings


def csrf_trusted_origins() -> list[Finding]:
    findings: list[Finding] = []
    origins = [str(o) for o in getattr(settings, "CSRF_TRUSTED_ORIGINS", [])]
    bad = [o for o in origins if "://" not in o]
    if bad:
        findings.append(
            Finding(
                id="diagnose.csrf.origin_scheme",
                severity=Severity.CRITICAL,
                title="CSRF_TRUSTED_ORIGINS has entries without a scheme",
                detail=f"{bad!r}: since Django 4.0 each origin needs its scheme; the system "
                "check fails and POSTs from that origin get 403.",
                fix="Write them as " + ", ".join(repr("https://" + o) for o in bad) + ".",
                rank=8,
                data={"origins": bad, "reexpresses": "4_0.E001"},
            )
        )
    for domain in public_domains():
        wanted = f"https://{domain}"
        if wanted not in origins and not _origin_matches(wanted, origins):
            findings.append(
                Finding(
                    id="diagnose.csrf.public_origin",
                    severity=Severity.WARNING,
                    title=f"CSRF_TRUSTED_ORIGINS lacks {wanted}",
                    detail="Behind Railway's proxy every form POST (the admin login too) "
                    "fails with 403 'CSRF verification failed: Origin checking failed'.",
                    fix=f"Add {wanted!r} to CSRF_TRUSTED_ORIGINS.",
                    rank=30,
                    data={"origin": wanted},
                )
            )
    return findings


def _origin_matches(origin: str, origins: list[str]) -> bool:
    host = origin.split("://", 1)[1]
    for entry in origins:
        scheme, _, pattern = entry.partition("://")
        if scheme == "https" and pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def ssl_proxy() -> list[Finding]:
    findings: list[Finding] = []
    header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    redirect = bool(getattr(settings, "SECURE_SSL_REDIRECT", False))
    if redirect and not header:
        findings.append(
            Finding(
                id="diagnose.ssl.redirect_loop",
                severity=Severity.CRITICAL,
                title="SECURE_SSL_REDIRECT is on without SECURE_PROXY_SSL_HEADER: a redirect loop",
                detail="Railway's edge terminates TLS and forwards plain HTTP, so Django thinks "
                "every request is http and redirects it to https, forever.",
                fix="Set SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https').",
                rank=4,
            )
        )
    elif not header and platform.railway().on_railway:
        findings.append(
            Finding(
                id="diagnose.ssl.proxy_header",
                severity=Severity.WARNING,
                title="SECURE_PROXY_SSL_HEADER is not set behind Railway's proxy",
                detail="request.is_secure() is False for every request: absolute URLs are "
                "built with http:// and secure cookies misbehave.",
                fix="Set SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https').",
                rank=25,
            )
        )
    path = healthcheck_path()
    if redirect and path and not _redirect_exempt(path):
        findings.append(
            Finding(
                id="diagnose.ssl.healthcheck_redirect",
                severity=Severity.CRITICAL,
                title=f"SECURE_SSL_REDIRECT redirects the healthcheck path {path}",
                detail="Railway's healthcheck calls the container over plain HTTP; it gets 301 "
                "instead of 200 and the deploy fails.",
                fix=f"Add r'^{re.escape(path.strip('/'))}/?$' to SECURE_REDIRECT_EXEMPT.",
                rank=7,
                data={"path": path},
            )
        )
    return findings


def _redirect_exempt(path: str) -> bool:
    stripped = path.lstrip("/")
    return any(re.search(p, stripped) for p in getattr(settings, "SECURE_REDIRECT_EXEMPT", []))


def cors() -> list[Finding]:
    findings: list[Finding] = []
    middleware = list(settings.MIDDLEWARE)
    if CORS_MIDDLEWARE not in middleware:
        return findings
    origins: list[Any] = list(getattr(settings, "CORS_ALLOWED_ORIGINS", []) or [])
    bad = [o for o in origins if "://" not in str(o)]
    if bad:
        findings.append(
            Finding(
                id="diagnose.cors.origin_scheme",
                severity=Severity.WARNING,
                title="CORS_ALLOWED_ORIGINS has entries without a scheme",
                detail=f"{bad!r} never match a browser's Origin header, so those sites get no "
                "CORS headers.",
                fix="Write them as " + ", ".join(repr("https://" + str(o)) for o in bad) + ".",
                rank=50,
            )
        )
    position = middleware.index(CORS_MIDDLEWARE)
    before = [
        m
        for m in middleware[:position]
        if m.endswith(("CommonMiddleware", "WhiteNoiseMiddleware", "GZipMiddleware"))
    ]
    if before:
        findings.append(
            Finding(
                id="diagnose.cors.middleware_order",
                severity=Severity.WARNING,
                title="CorsMiddleware comes after middleware that can answer first",
                detail=f"{', '.join(before)} run before CorsMiddleware, so their responses "
                "(redirects, static files) lack CORS headers.",
                fix="Move 'corsheaders.middleware.CorsMiddleware' above "
                "'django.middleware.common.CommonMiddleware' (as high as possible).",
                rank=50,
            )
        )
    return findings
