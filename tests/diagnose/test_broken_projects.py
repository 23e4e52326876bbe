"""railway_diagnose on real broken projects, each built in a temporary folder, run as a user would.

Every case is a small project (manage.py, settings, urls, wsgi, one ``shop`` app) that breaks in
one way Django apps break on Railway. Each is run as a real subprocess, both as
``manage.py railway_diagnose --format json`` and ``python -m railops_django diagnose --format
json``; each run prints exactly one JSON object on stdout, no traceback on stderr, and names
the cause, as critical, among the first three findings.

When the settings module itself does not import (or an INSTALLED_APPS entry listed before
railops_django), Django stops before any railops code is loaded: ``manage.py`` cannot run
railway_diagnose, and the README sends the user to ``python -m railops_django diagnose``.
Those cases check the module only, plus what manage.py says (Django's own error).

The whole file builds one migrated SQLite database once, copies it into every project, and
runs the subprocesses a few at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.utils import ROOT

MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

SETTINGS = """\
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "k3v9-Qm2xL7pR4tZ8wN1yB6cF0hJ5dS3gA9eU2iO7uT4rE1wQ8zX5cV6bN3mL0kJ"
DEBUG = False
ALLOWED_HOSTS = ["localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "railops_django",
    "shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "proj.urls"
WSGI_APPLICATION = "proj.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
RAILOPS = {"CONNECT_TIMEOUT": 2}
"""

URLS = """\
from django.contrib import admin
from django.urls import path

from shop import views

urlpatterns = [path("", views.index), path("admin/", admin.site.urls)]
"""

WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
application = get_wsgi_application()
"""

MODELS = """\
from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=100)
    stock = models.IntegerField(default=0)
"""

MIGRATION_0001 = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Product",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
                ("stock", models.IntegerField(default=0)),
            ],
        ),
    ]
"""

VIEWS = """\
from django.http import HttpResponse

from .models import Product


def index(request):
    return HttpResponse(f"{len(list(Product.objects.all()))} products")
"""


def build(root: Path, files: dict[str, str]) -> None:
    """Write the base project into ``root``, then ``files`` (a path -> text) over it."""
    base = {
        "manage.py": MANAGE,
        "proj/__init__.py": "",
        "proj/settings.py": SETTINGS,
        "proj/urls.py": URLS,
        "proj/wsgi.py": WSGI,
        "shop/__init__.py": "",
        "shop/models.py": MODELS,
        "shop/views.py": VIEWS,
        "shop/migrations/__init__.py": "",
        "shop/migrations/0001_initial.py": MIGRATION_0001,
    }
    for name, text in {**base, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAILWAY_", "RAILOPS_", "DJANGO_", "PG"))
        and k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG")
    }
    env["PYTHONPATH"] = str(ROOT)
    return env


def run(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env={**_env(), **(env or {})},
        cwd=root,
        timeout=90,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed as soon as the socket is


def drop_stock_column(root: Path) -> None:
    with sqlite3.connect(root / "db.sqlite3") as db:
        db.execute("ALTER TABLE shop_product DROP COLUMN stock")


@dataclass
class Case:
    files: dict[str, str]
    cause: tuple[str, ...]  # finding ids (or id prefixes ending in '.') that name the cause
    settings: str = ""  # appended to proj/settings.py
    env: dict[str, str] = field(default_factory=dict)
    after: Callable[[Path], None] | None = None
    manage_starts: bool = True  # False: Django fails before railops_django is imported
    migrated: bool = True


CASES: dict[str, Case] = {
    "csrf_origin_without_scheme": Case(
        {}, ("django.4_0.E001",), settings='CSRF_TRUSTED_ORIGINS = ["myapp.up.railway.app"]'
    ),
    "admin_without_messages_app": Case(
        {},
        ("django.admin.E406",),
        settings='INSTALLED_APPS.remove("django.contrib.messages")\n'
        'MIDDLEWARE.remove("django.contrib.messages.middleware.MessageMiddleware")\n'
        'TEMPLATES[0]["OPTIONS"]["context_processors"].pop()',
    ),
    "model_reverse_accessor_clash": Case(
        {
            "shop/models.py": MODELS + "\n\nclass Order(models.Model):\n"
            "    buyer = models.ForeignKey('auth.User', models.CASCADE)\n"
            "    seller = models.ForeignKey('auth.User', models.CASCADE)\n"
        },
        ("django.fields.E304",),
    ),
    "urlconf_imports_missing_module": Case(
        {"proj/urls.py": "import shop.no_such_api  # noqa\n" + URLS},
        ("diagnose.app.urlconf_import",),
    ),
    "urlconf_raises_at_import": Case(
        {"proj/urls.py": URLS + 'REGION = __import__("os").environ["SHOP_REGION"]\n'},
        ("diagnose.app.urlconf_import",),
    ),
    "middleware_does_not_import": Case(
        {}, ("diagnose.app.middleware_import",), settings='MIDDLEWARE += ["shop.audit.AuditLog"]'
    ),
    "wsgi_application_wrong": Case(
        {}, ("diagnose.app.wsgi_import",), settings='WSGI_APPLICATION = "proj.wsgi.app"'
    ),
    "secret_key_empty": Case(
        {},
        ("django.security.W009", "diagnose.settings.secret_key"),
        settings='SECRET_KEY = os.environ.get("SECRET_KEY", "")',
    ),
    "allowed_hosts_without_public_domain": Case(
        {},
        ("diagnose.allowed_hosts.public_domain",),
        env={
            "RAILWAY_PUBLIC_DOMAIN": "shop.up.railway.app",
            "RAILWAY_ENVIRONMENT_NAME": "production",
        },
    ),
    "view_raises": Case(
        {"shop/views.py": "def index(request):\n    return {}['cart']\n"},
        ("diagnose.edge.root",),
    ),
    "manifest_storage_without_manifest": Case(
        {
            "shop/templates/shop/index.html": "{% load static %}<link href=\"{% static 'shop/site.css' %}\">",
            "shop/static/shop/site.css": "body {}\n",
            "shop/views.py": "from django.shortcuts import render\n\n\n"
            "def index(request):\n    return render(request, 'shop/index.html')\n",
        },
        ("diagnose.static.", "diagnose.edge.root"),
        settings='STORAGES = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}, '
        '"staticfiles": {"BACKEND": '
        '"django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}}',
    ),
    "template_syntax_error": Case(
        {
            "shop/templates/shop/index.html": "<main>\n<h1>{% if %}</h1>\n</main>\n",
            "shop/views.py": "from django.shortcuts import render\n\n\n"
            "def index(request):\n    return render(request, 'shop/index.html')\n",
        },
        ("diagnose.app.template_syntax",),
    ),
    "database_refuses_connections": Case(
        {},
        ("diagnose.database.connect.",),
        settings='DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", '
        '"HOST": "127.0.0.1", "PORT": "CLOSED_PORT", "NAME": "shop", "USER": "shop"}}',
        migrated=False,
    ),
    "installed_app_missing": Case(
        {}, ("diagnose.env.apps_import",), settings='INSTALLED_APPS.append("shop_extras")'
    ),
    "models_import_missing_package": Case(
        {"shop/models.py": "import shop_payments_sdk  # noqa\n" + MODELS},
        ("diagnose.env.apps_import",),
    ),
    "pending_migration": Case(
        {
            "shop/models.py": MODELS + "    price = models.IntegerField(default=0)\n",
            "shop/migrations/0002_product_price.py": "from django.db import migrations, models\n\n\n"
            "class Migration(migrations.Migration):\n"
            "    dependencies = [('shop', '0001_initial')]\n"
            "    operations = [migrations.AddField('product', 'price', "
            "models.IntegerField(default=0))]\n",
        },
        ("diagnose.migrations.pending",),
    ),
    "column_dropped_behind_djangos_back": Case(
        {}, ("schema.drift.missing_column",), after=drop_stock_column
    ),
    "settings_raise_key_error": Case(
        {},
        ("diagnose.env.settings_import",),
        settings='SHOP_REGION = os.environ["SHOP_REGION"]',
        manage_starts=False,
    ),
    "settings_raise_key_error_on_secret_name": Case(
        {},
        ("diagnose.env.settings_import",),
        settings='STRIPE_API_KEY = os.environ["STRIPE_API_KEY"]',
        manage_starts=False,
    ),
    "settings_import_missing_package": Case(
        {},
        ("diagnose.env.settings_import",),
        settings="import shop_settings_helpers  # noqa",
        manage_starts=False,
    ),
    "installed_app_missing_before_railops": Case(
        {},
        ("diagnose.env.apps_import",),
        settings='INSTALLED_APPS.insert(0, "shop_extras")',
        manage_starts=False,
    ),
}

MANAGE_ARGS = ("manage.py", "railway_diagnose", "--format", "json")
MODULE_ARGS = ("-m", "railops_django", "diagnose", "--format", "json")


def _prepare(root: Path, case: Case, template_db: Path) -> None:
    build(root, case.files)
    settings = case.settings.replace("CLOSED_PORT", str(closed_port()))
    with (root / "proj/settings.py").open("a", encoding="utf-8") as f:
        f.write("\n" + settings + "\n")
    if case.migrated:
        shutil.copy(template_db, root / "db.sqlite3")
    if case.after:
        case.after(root)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Every case run both ways, four subprocesses at a time."""
    template = tmp_path_factory.mktemp("template")
    build(template, {})
    migrate = run(template, "manage.py", "migrate", "--noinput", "-v0")
    assert migrate.returncode == 0, migrate.stderr
    jobs: list[tuple[str, str, Path, tuple[str, ...], dict[str, str]]] = [
        ("healthy", "manage", template, MANAGE_ARGS, {}),
        ("healthy", "module", template, MODULE_ARGS, {}),
    ]
    for name, case in CASES.items():
        root = tmp_path_factory.mktemp(name)
        _prepare(root, case, template / "db.sqlite3")
        jobs.append((name, "manage", root, MANAGE_ARGS, case.env))
        jobs.append((name, "module", root, MODULE_ARGS, case.env))
    with ThreadPoolExecutor(max_workers=4) as pool:
        procs = list(pool.map(lambda job: run(job[2], *job[3], env=job[4]), jobs))
    return {(job[0], job[1]): proc for job, proc in zip(jobs, procs, strict=True)}


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _matches(finding_id: str, cause: tuple[str, ...]) -> bool:
    return any(finding_id == c or (c.endswith(".") and finding_id.startswith(c)) for c in cause)


def _assert_diagnosis(proc: subprocess.CompletedProcess[str], case: Case) -> dict[str, Any]:
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)  # exactly one JSON object: trailing text would not parse
    assert isinstance(report, dict) and report["command"] == "railway_diagnose"
    top = report["findings"][:3]
    summary = [(f["severity"], f["id"], f["title"][:90]) for f in report["findings"][:6]]
    assert any(f["severity"] == "critical" and _matches(f["id"], case.cause) for f in top), summary
    assert report["status"] == "critical" and proc.returncode == report["exit_code"] == 2
    return report


@pytest.mark.parametrize("runner", ["manage", "module"])
@pytest.mark.parametrize("name", list(CASES))
def test_broken_project__diagnosis__one_json_object_cause_critical_in_top_three(
    results: dict[tuple[str, str], Any], name: str, runner: str
) -> None:
    case = CASES[name]
    proc = results[(name, runner)]
    if runner == "manage" and not case.manage_starts:
        # Django fails before railops_django is imported: its own error, then the README's
        # advice (python -m railops_django diagnose) is all there is.
        assert proc.returncode != 0 and proc.stdout == ""
        return
    _assert_diagnosis(proc, case)


@pytest.mark.parametrize("runner", ["manage", "module"])
def test_healthy_base_project__no_critical(
    results: dict[tuple[str, str], Any], runner: str
) -> None:
    """The template the cases break is itself healthy, so each case's critical is its own."""
    proc = results[("healthy", runner)]
    report = json.loads(proc.stdout)
    critical = [f["id"] for f in report["findings"] if f["severity"] == "critical"]
    assert critical == [] and proc.returncode in (0, 1), (critical, proc.stderr)


def test_urlconf_missing_module__file_line_of_project_frame_and_other_probes_ran(
    results: dict[tuple[str, str], Any],
) -> None:
    report = json.loads(results[("urlconf_imports_missing_module", "manage")].stdout)
    first = report["findings"][0]
    assert first["id"] == "diagnose.app.urlconf_import"
    assert first["data"]["where"].endswith("proj/urls.py:1")
    assert "No module named 'shop.no_such_api'" in first["detail"]
    # met by the URL checks and by the edge replay, reported once
    assert len([f for f in report["findings"] if f["id"] == "diagnose.app.urlconf_import"]) == 1
    assert any(d.startswith("system check") for d in first["data"]["during"])
    assert "diagnose.database.latency" in {f["id"] for f in report["findings"]}


def test_middleware_missing__points_at_the_settings_line(
    results: dict[tuple[str, str], Any],
) -> None:
    report = json.loads(results[("middleware_does_not_import", "manage")].stdout)
    failure = next(f for f in report["findings"] if f["id"] == "diagnose.app.middleware_import")
    where = failure["data"]["where"]
    assert where.rsplit(":", 1)[0].endswith("proj/settings.py")
    line = int(where.rsplit(":", 1)[1])
    text = (Path(where.rsplit(":", 1)[0])).read_text().splitlines()[line - 1]
    assert "shop.audit.AuditLog" in text
    # gunicorn's import of WSGI_APPLICATION dies of the same error: said once, not twice
    assert "diagnose.app.wsgi_import" not in {f["id"] for f in report["findings"]}
    assert any("WSGI import" in d for d in failure["data"]["during"])


def test_manage_py_broken_app__stderr_first_line_points_at_the_module(
    results: dict[tuple[str, str], Any],
) -> None:
    proc = results[("installed_app_missing", "manage")]
    first = proc.stderr.splitlines()[0]
    assert "python -m railops_django diagnose" in first and "shop_extras" in first
    report = json.loads(proc.stdout)
    assert report["findings"][0]["data"]["where"].endswith(
        "proj/settings.py:" + str(SETTINGS.count("\n") + 2)
    )


def test_settings_key_error__module_names_the_settings_line(
    results: dict[tuple[str, str], Any],
) -> None:
    report = json.loads(results[("settings_raise_key_error", "module")].stdout)
    first = report["findings"][0]
    assert "KeyError" in first["detail"] and "SHOP_REGION" in first["detail"]
    assert first["data"]["where"].endswith("proj/settings.py:" + str(SETTINGS.count("\n") + 2))


def test_template_syntax_error__template_file_line_before_any_request(
    results: dict[tuple[str, str], Any],
) -> None:
    report = json.loads(results[("template_syntax_error", "module")].stdout)
    failure = next(f for f in report["findings"] if f["id"] == "diagnose.app.template_syntax")
    assert failure["data"]["where"].endswith("shop/templates/shop/index.html:2")
    assert failure["data"]["template"] == "shop/index.html"


def test_secret_key_empty__edge_500_does_not_send_the_user_into_django(
    results: dict[tuple[str, str], Any],
) -> None:
    report = json.loads(results[("secret_key_empty", "manage")].stdout)
    root = next(f for f in report["findings"] if f["id"] == "diagnose.edge.root")
    assert root["severity"] == "critical" and "site-packages" not in root["fix"]
    assert report["findings"][0]["title"] == "SECRET_KEY is empty"


# The settings read the project's secrets from the environment, as Railway projects do; the
# WSGI module records the initial environment the kernel keeps for the process that imports it
# (/proc/self/environ: what `ps e` and any process of the same user read). Only the diagnosis's
# fresh interpreter (`python -c ...`) records it, not manage.py itself, which holds the secrets.
SECRET_SETTINGS = """\
SECRET_KEY = os.environ["SECRET_KEY"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DATABASE_URL"].removeprefix("sqlite:///"),
    }
}
"""

ENVIRON_RECORDING_WSGI = """\
import os
import sys
from pathlib import Path

from django.core.wsgi import get_wsgi_application

HERE = Path(__file__).resolve().parent.parent
CHILD = sys.argv[0] == "-c"
if CHILD:
    (HERE / "child-environ").write_bytes(Path("/proc/self/environ").read_bytes())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
application = get_wsgi_application()
if CHILD:
    (HERE / "child-imported").write_text("settings imported")
"""


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_wsgi_import__secrets_in_settings__import_succeeds_and_child_environ_holds_none(
    tmp_path: Path,
) -> None:
    build(tmp_path, {"proj/wsgi.py": ENVIRON_RECORDING_WSGI})
    with (tmp_path / "proj/settings.py").open("a", encoding="utf-8") as f:
        f.write("\n" + SECRET_SETTINGS)
    secret_key = "wsgi-env-Secret-4q9Zk2Lm7Xv3Nb8Rt1Yw6Pc0Hd5Jf-not-for-any-environ"
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    webhook = "http://127.0.0.1:9/hooks/wsgi-env-webhook-token-8d2f"
    proc = run(
        tmp_path,
        *MANAGE_ARGS,
        env={
            "SECRET_KEY": secret_key,
            "DATABASE_URL": database_url,
            "RAILOPS_ALERT_WEBHOOK_URL": webhook,
        },
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    # The settings saw SECRET_KEY and DATABASE_URL in the child: the import succeeded, and
    # the probe neither reported a failure nor crashed.
    failures = [(f["id"], f["title"]) for f in report["findings"] if "wsgi_import" in f["id"]]
    assert failures == [], failures
    assert (tmp_path / "child-imported").exists()
    recorded = (tmp_path / "child-environ").read_bytes()
    names = {entry.split(b"=", 1)[0].decode() for entry in recorded.split(b"\0") if entry}
    # Said by name only: a failure must not print the environment it found.
    values = {"SECRET_KEY": secret_key, "DATABASE_URL": database_url, "webhook": webhook}
    leaked = [label for label, value in values.items() if value.encode() in recorded]
    assert leaked == [], f"in the child's /proc environ: {leaked}"
    assert not names & {"SECRET_KEY", "DATABASE_URL"}, sorted(names)
    assert not [name for name in names if name.startswith("RAILOPS_")], sorted(names)
    assert {"PATH", "DJANGO_SETTINGS_MODULE"} <= names, sorted(names)
