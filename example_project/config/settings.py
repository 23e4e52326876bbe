"""Settings for example_project, the way a Railway project writes them: everything from the
environment through django-environ, with defaults that run locally on SQLite and no server."""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# django-environ reads a leading "$" as a reference to another variable, so an unresolved Railway
# reference (Railway leaves "${{Postgres.DATABASE_URL}}" as is when the service does not exist)
# would silently become the default below: SQLite, or the public example SECRET_KEY. Refuse it.
for _name in ("DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"):
    if "${{" in os.environ.get(_name, ""):
        raise ImproperlyConfigured(
            f"{_name} is an unresolved Railway reference: fix it in Railway > Variables "
            "(the service name is case-sensitive, e.g. DATABASE_URL=${{Postgres.DATABASE_URL}}) "
            "and redeploy"
        )

DEBUG = env.bool("DEBUG", default=False)
# A local default so the Quickstart runs; Railway sets a real one in Variables.
SECRET_KEY = env(
    "SECRET_KEY",
    default="example-only-0c5f0d1b5e3a4c8f9e7d6b5a4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
)

RAILWAY_PUBLIC_DOMAIN = env("RAILWAY_PUBLIC_DOMAIN", default="")
# healthcheck.railway.app: the Host of Railway's healthcheck (railway.json healthcheckPath).
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
ALLOWED_HOSTS.append("healthcheck.railway.app")
if RAILWAY_PUBLIC_DOMAIN:
    ALLOWED_HOSTS.append(RAILWAY_PUBLIC_DOMAIN)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
if RAILWAY_PUBLIC_DOMAIN:
    CSRF_TRUSTED_ORIGINS.append(f"https://{RAILWAY_PUBLIC_DOMAIN}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "railops_django",
    "shop",
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL")
if DATABASE_URL is not None and not DATABASE_URL.strip():
    raise ImproperlyConfigured(
        "DATABASE_URL is set but empty: in Railway > Variables set "
        "DATABASE_URL=${{Postgres.DATABASE_URL}} and redeploy; locally, unset it to use SQLite"
    )
# Parsed as is: env.db() would take the leading "$" of a reference for another variable's name.
DATABASES = {
    "default": env.db_url_config(DATABASE_URL)
    if DATABASE_URL
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "db.sqlite3")},
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_BACKEND",
            default="django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Railway terminates TLS at its edge and forwards plain HTTP with X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Railway's healthcheck calls plain HTTP: the health gate must answer it, not redirect it.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^railops/health/"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True

RAILOPS = {"HEALTHCHECK_PATH": "/railops/health/"}

# The railops logger is for operators: findings already reach the user through each command's
# report, so its records go to stderr only when asked for (RAILOPS_LOG_LEVEL=INFO, DEBUG...).
if env("RAILOPS_LOG_LEVEL", default=""):
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "loggers": {"railops": {"handlers": ["console"], "level": env("RAILOPS_LOG_LEVEL")}},
    }

# HSTS preload is a commitment a demo project should not make on its users' behalf.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
