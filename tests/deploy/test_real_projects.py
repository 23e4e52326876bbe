"""Real third-party projects deployed as a new user would: from an empty PostgreSQL database.

Each test builds a project in a temp dir (``wagtail start``; a django-oscar shop with a minimal
settings module), adds railops_django, points DATABASE_URL at a fresh scratch database and runs
the commands as real subprocesses:

1. ``railway_deploy --format json``: exit 0, valid JSON (with the whole history's plan, lint
   and rollback plan), a release row, no warning or critical about a table the run creates
   (every table: the database starts empty);
2. a small new app with one migration: ``safe_migrate --dry-run --format json`` plans just it,
   and ``railway_deploy`` again: exit 0, a second release.

A first deploy blocked by false alarms (tables created in this same run, followed through
renames, moves between apps and ``db_table`` changes) is what these tests catch.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connections

from railops_django.db.locks import pg_conninfo
from tests.utils import ROOT

pytestmark = pytest.mark.postgres

TIMEOUT_S = 300  # one command; a test stays well under it

SHELF_MODELS = """
from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    pages = models.IntegerField(db_default=0)
"""

SHELF_MIGRATION = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=200)),
                ("pages", models.IntegerField(db_default=0)),
            ],
        )
    ]
"""


def _admin() -> psycopg.Connection[Any]:
    params = pg_conninfo("default")
    params.pop("conninfo", None)
    return psycopg.connect(autocommit=True, **params)


@pytest.fixture
def scratch_url(request):
    """A fresh, empty database named railops_deploy_<test>_<pid>; dropped afterwards."""
    project = request.node.name.removeprefix("test_").split("__")[0]
    name = f"railops_deploy_{project}_{os.getpid()}"
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    sd = connections["default"].settings_dict
    user = sd["USER"] or "postgres"
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    yield f"postgres://{user}{password}@{sd['HOST'] or '127.0.0.1'}:{sd['PORT'] or 5432}/{name}"
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Project:
    """A project directory and the environment its manage.py runs in."""

    def __init__(self, path: Path, settings: str, settings_file: Path, url: str) -> None:
        self.path, self.settings_file, self.url = path, settings_file, url
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH"}
        }
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": settings,
                "DATABASE_URL": url,
                # The railops_django under test, whatever is installed.
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(path)]),
                "RAILOPS_BACKUP_DIR": str(path / "backups"),
            }
        )

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )

    def json(self, *args: str) -> tuple[dict[str, Any], int]:
        done = self.manage(*args, "--format", "json")
        try:
            return json.loads(done.stdout), done.returncode
        except json.JSONDecodeError:
            pytest.fail(f"{args} printed no JSON (exit {done.returncode}): {done.stderr[-3000:]}")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql).fetchall()

    def add_app(self, label: str) -> None:
        """A small new app with one migration, added to INSTALLED_APPS."""
        app = self.path / label
        (app / "migrations").mkdir(parents=True)
        (app / "__init__.py").write_text("")
        (app / "migrations" / "__init__.py").write_text("")
        (app / "models.py").write_text(SHELF_MODELS)
        (app / "migrations" / "0001_initial.py").write_text(SHELF_MIGRATION)
        with self.settings_file.open("a") as fh:
            fh.write(f"\nINSTALLED_APPS = [*INSTALLED_APPS, {label!r}]\n")


WAGTAIL_CLI = "from wagtail.bin.wagtail import main; main()"  # the `wagtail` script, any venv


def wagtail_site(tmp_path: Path, url: str) -> Project:
    """``wagtail start mysite`` as the Wagtail docs say, plus railops_django and DATABASE_URL."""
    import wagtail  # noqa: F401  (a test dependency: fail loudly when it is missing)

    path = tmp_path / "mysite"
    path.mkdir()
    subprocess.run(
        [sys.executable, "-c", WAGTAIL_CLI, "start", "mysite", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    settings_file = path / "mysite" / "settings" / "railops.py"
    settings_file.write_text(
        textwrap.dedent(
            """
            import os

            import dj_database_url

            from .dev import *  # noqa: F403

            INSTALLED_APPS = [*INSTALLED_APPS, "railops_django"]  # noqa: F405
            DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
            """
        )
    )
    return Project(path, "mysite.settings.railops", settings_file, url)


OSCAR_APPS = [
    "oscar.config.Shop",
    "oscar.apps.analytics.apps.AnalyticsConfig",
    "oscar.apps.checkout.apps.CheckoutConfig",
    "oscar.apps.address.apps.AddressConfig",
    "oscar.apps.shipping.apps.ShippingConfig",
    "oscar.apps.catalogue.apps.CatalogueConfig",
    "oscar.apps.catalogue.reviews.apps.CatalogueReviewsConfig",
    "oscar.apps.communication.apps.CommunicationConfig",
    "oscar.apps.partner.apps.PartnerConfig",
    "oscar.apps.basket.apps.BasketConfig",
    "oscar.apps.payment.apps.PaymentConfig",
    "oscar.apps.offer.apps.OfferConfig",
    "oscar.apps.order.apps.OrderConfig",
    "oscar.apps.customer.apps.CustomerConfig",
    "oscar.apps.search.apps.SearchConfig",
    "oscar.apps.voucher.apps.VoucherConfig",
    "oscar.apps.wishlists.apps.WishlistsConfig",
    "oscar.apps.dashboard.apps.DashboardConfig",
    *(
        f"oscar.apps.dashboard.{name}.apps.{name.capitalize()}DashboardConfig"
        for name in (
            "reports",
            "users",
            "orders",
            "catalogue",
            "offers",
            "partners",
            "pages",
            "ranges",
            "reviews",
            "vouchers",
            "communications",
            "shipping",
        )
    ),
]


def oscar_shop(tmp_path: Path, url: str) -> Project:
    """A django-oscar shop: Oscar's apps as its docs list them, in a minimal settings module."""
    import oscar  # noqa: F401  (a test dependency: fail loudly when it is missing)

    path = tmp_path / "shop"
    (path / "shop").mkdir(parents=True)
    (path / "shop" / "__init__.py").write_text("")
    (path / "shop" / "urls.py").write_text(
        "from django.http import HttpResponse\nfrom django.urls import path\n\n"
        'urlpatterns = [path("", lambda request: HttpResponse("ok"))]\n'
    )
    (path / "manage.py").write_text(
        "import sys\n\nfrom django.core.management import execute_from_command_line\n\n"
        "execute_from_command_line(sys.argv)\n"
    )
    settings_file = path / "shop" / "settings.py"
    settings_file.write_text(
        textwrap.dedent(
            f"""
            import os

            import dj_database_url
            from oscar.defaults import *  # noqa: F403

            SECRET_KEY = "railops-real-project-test-only-0123456789abcdefghijklmnopqrstuvwxyz"
            DEBUG = False
            ALLOWED_HOSTS = ["*"]
            ROOT_URLCONF = "shop.urls"
            SITE_ID = 1
            USE_TZ = True
            STATIC_URL = "/static/"
            DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
            INSTALLED_APPS = [
                "django.contrib.admin",
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django.contrib.sessions",
                "django.contrib.messages",
                "django.contrib.staticfiles",
                "django.contrib.sites",
                "django.contrib.flatpages",
                *{OSCAR_APPS!r},
                "widget_tweaks",
                "haystack",
                "treebeard",
                "django_tables2",
                "railops_django",
            ]
            MIDDLEWARE = [
                "django.middleware.security.SecurityMiddleware",
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.contrib.messages.middleware.MessageMiddleware",
            ]
            TEMPLATES = [
                {{
                    "BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True,
                    "OPTIONS": {{
                        "context_processors": [
                            "django.template.context_processors.request",
                            "django.contrib.auth.context_processors.auth",
                            "django.contrib.messages.context_processors.messages",
                        ]
                    }},
                }}
            ]
            HAYSTACK_CONNECTIONS = {{
                "default": {{"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
            }}
            DATABASES = {{"default": dj_database_url.parse(os.environ["DATABASE_URL"])}}
            """
        )
    )
    return Project(path, "shop.settings", settings_file, url)


def _problems_on(tables: set[str], findings: list[dict[str, Any]]) -> list[str]:
    """Warnings and criticals about one of ``tables``."""
    return [
        f"{f['severity']} {f['id']}: {f['title']}"
        for f in findings
        if f["severity"] in ("warning", "critical") and (f.get("data") or {}).get("table") in tables
    ]


def deploys_from_empty(project: Project, min_steps: int) -> None:
    # 1. The first deploy, onto the empty database: the whole history through safe_migrate.
    first, code = project.json("railway_deploy")
    critical = [
        f"{f['id']}: {f['title']}" for f in first["findings"] if f["severity"] == "critical"
    ]
    assert code == 0, critical
    created = {
        r[0] for r in project.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert "railops_django_release" in created
    # The database was empty: every table is one this run created, so none deserves a warning.
    assert not _problems_on(created, first["findings"])
    [(release_id, status, after)] = project.query(
        "SELECT id, status, migrations_after FROM railops_django_release"
    )
    assert status == "succeeded" and first["release"]["id"] == release_id
    assert len(first["rollback_plan"]["steps"]) >= min_steps

    # 2. A small new app: the dry run plans just its migration, in valid JSON ...
    project.add_app("shelf")
    dry, code = project.json("safe_migrate", "--dry-run")
    assert code == 0, dry["findings"]
    assert [s["app"] for s in dry["plan"]["steps"]] == ["shelf"]
    assert not _problems_on({"shelf_book"}, dry["findings"])
    # ... and the next deploy applies it.
    second, code = project.json("railway_deploy", "--skip-collectstatic")
    assert code == 0, [f for f in second["findings"] if f["severity"] == "critical"]
    rows = project.query("SELECT status, migrations_after FROM railops_django_release ORDER BY id")
    assert [r[0] for r in rows] == ["succeeded", "succeeded"]
    assert rows[1][1]["shelf"] == "0001_initial"
    assert {k: v for k, v in rows[1][1].items() if k != "shelf"} == after


def test_wagtail__fresh_site_from_empty_database__deploys_twice_exit_0(tmp_path, scratch_url):
    deploys_from_empty(wagtail_site(tmp_path, scratch_url), min_steps=150)


def test_oscar__shop_from_empty_database__deploys_twice_exit_0(tmp_path, scratch_url):
    deploys_from_empty(oscar_shop(tmp_path, scratch_url), min_steps=130)


def test_wagtail__native_backup__restore_test_passes_and_leaves_the_site_alone(
    tmp_path, scratch_url
):
    # Wagtail's 0086 calls create_permissions(), which writes to DEFAULT_DB_ALIAS whatever
    # database migrate runs on: the restore test's migrations must see the scratch database
    # under that name, or 0090 fails there for want of the permissions 0086 put elsewhere.
    site = wagtail_site(tmp_path, scratch_url)
    site.env["RAILOPS_BACKUP_ENGINE"] = "native"
    migrated = site.manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    counts = (
        "SELECT (SELECT count(*) FROM auth_permission), (SELECT count(*) FROM wagtailcore_page)"
    )
    before = site.query(counts)
    created, code = site.json("backup", "create")
    assert code == 0, created["findings"]

    verified, code = site.json("backup", "verify", "--latest", "--restore-test")

    assert code == 0, [(f["id"], f["title"], f.get("detail")) for f in verified["findings"]]
    assert [f["id"] for f in verified["findings"]] == ["backup.verify.ok"]
    assert site.query(counts) == before
    # none of this site's scratch databases is left (others may be another run's, live)
    tag = hashlib.sha256(site.url.rsplit("/", 1)[1].encode()).hexdigest()[:8]
    leftovers = site.query(
        f"SELECT datname FROM pg_database WHERE datname LIKE 'railops\\_verify\\_{tag}\\_%'"
    )
    assert leftovers == []


def test_oscar__native_backup__create_exit_0_with_nothing_left_out(tmp_path, scratch_url):
    # Oscar's migrations are the false-alarm test of the native engine's index and constraint
    # check: renamed fields and models, unique_together, index_together, Meta.indexes,
    # treebeard paths, PositiveIntegerField checks. Every one the migrations make is explained.
    shop = oscar_shop(tmp_path, scratch_url)
    shop.env["RAILOPS_BACKUP_ENGINE"] = "native"
    migrated = shop.manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr[-2000:]

    created, code = shop.json("backup", "create")

    assert code == 0, [(f["id"], f["title"], f.get("detail")) for f in created["findings"]]
    manifests = [json.loads(p.read_text()) for p in (shop.path / "backups").rglob("*.json")]
    infos = [m["engine_info"] for m in manifests if isinstance(m, dict) and "engine_info" in m]
    assert [info["not_covered"] for info in infos] == [[]]

    # Oscar's basket 0010_convert_to_valid_json replaces a 0010_json_basket_option it no longer
    # ships (a rename by `replaces`): django_migrations holds both names, and the restore test
    # must take the recorded old name for the squash that stands for it.
    verified, code = shop.json("backup", "verify", "--latest", "--restore-test")
    assert code == 0, [(f["id"], f["title"], f.get("detail")) for f in verified["findings"]]
    assert [f["id"] for f in verified["findings"]] == ["backup.verify.ok"]
