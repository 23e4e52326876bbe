"""Backups and restores of real third-party apps, with each engine, as their users run them.

One project in a temp dir holds the apps whose data a backup most often gets wrong:
django-pgtrigger + django-pghistory (triggers that write event rows, protect rows, are
disabled or uninstalled by hand), django-simple-history (history rows in a table of their own),
django-taggit (generic relations), django-celery-beat (schedules and their change tracker) and
django-allauth (users, e-mail addresses). Its own two apps' migrations are made by
``makemigrations`` in the project, so pghistory's triggers arrive through pgtrigger's
``AddTrigger`` operation as they do in a real project. Rows are made through the apps' own APIs
(``manage.py shell``), the commands run as subprocesses (as in ``test_real_projects``), and the
state compared is every table's rows, every sequence's position and every trigger's mode.

The project and its source database are built once per module; each test restores into a
database of its own (``railops_tp_*``) or back into the source. On SQLite (its backup-API
engine) the same project runs without the PostgreSQL-only pgtrigger and pghistory. The apps
are in the ``test`` extra: a missing one fails the tests (the project cannot start), it does
not skip them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from django.db import connections

from railops_django.db.identity import key as identity_key
from tests.deploy.test_real_projects import Project, _admin

SETTINGS = """
import os

import dj_database_url

SECRET_KEY = "railops-thirdparty-test-only-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tpsite.urls"
SITE_ID = 1
USE_TZ = True
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "simple_history",
    "taggit",
    "django_celery_beat",
    "shop",
    *(["pgtrigger", "pghistory", "journal"] if POSTGRES else []),
    "railops_django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
"""

SHOP_MODELS = """
from django.db import models
from simple_history.models import HistoricalRecords
from taggit.managers import TaggableManager


class Product(models.Model):
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    tags = TaggableManager(blank=True)
    history = HistoricalRecords()
"""

# pghistory's insert and update events, written by triggers; two pgtrigger triggers of its own:
# one the seed disables (pgtrigger disable), one it uninstalls (pgtrigger uninstall).
JOURNAL_MODELS = """
import pghistory
import pgtrigger
from django.db import models


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class Account(models.Model):
    code = models.CharField(max_length=20, unique=True)
    balance = models.IntegerField(default=0)

    class Meta:
        triggers = [
            pgtrigger.Protect(name="protect_deletes", operation=pgtrigger.Delete),
            pgtrigger.ReadOnly(name="code_read_only", fields=["code"]),
        ]
"""

SEED = """
import datetime

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from shop.models import Product


def run(n):
    User = get_user_model()
    for i in range(n):
        user = User.objects.create_user(f"user{i}", f"user{i}@example.com", "pw")
        EmailAddress.objects.create(user=user, email=user.email, verified=i % 2 == 0, primary=True)
        product = Product.objects.create(name=f"product {i}", price=i + 0.5)
        product.tags.add("red", f"size-{i % 3}")
        product.price = i + 1
        product.save()  # a second history row
    Product.objects.first().delete()  # a '-' history row of a product that is gone
    every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES)
    nightly = CrontabSchedule.objects.create(minute="0", hour="3")
    PeriodicTask.objects.create(name="ping", task="shop.ping", interval=every)
    PeriodicTask.objects.create(name="nightly", task="shop.nightly", crontab=nightly)
    if "journal" in settings.INSTALLED_APPS:
        from journal.models import Account

        for i in range(n):
            account = Account.objects.create(code=f"A{i}")
            account.balance = 10 * i
            account.save()  # an update event
"""

# Rows made after a restore: every sequence must be past the restored rows, every trigger fire.
AFTER = """
from django.conf import settings
from django.contrib.auth import get_user_model
from django_celery_beat.models import PeriodicTask
from shop.models import Product

get_user_model().objects.create_user("late", "late@example.com", "pw")
product = Product.objects.create(name="late", price=1)
product.tags.add("late")
PeriodicTask.objects.create(name="late", task="shop.late", interval_id=1)
if "journal" in settings.INSTALLED_APPS:
    from journal.models import Account

    account = Account.objects.create(code="late")
    account.balance = 5
    account.save()
"""


# What happens after a backup, before an in-place restore.
CHANGES = """
from django.conf import settings
from shop.models import Product

Product.objects.create(name="after the backup", price=2).tags.add("new")
Product.objects.filter(name="product 1").delete()
if "journal" in settings.INSTALLED_APPS:
    from journal.models import Account

    Account.objects.create(code="after the backup")
    Account.objects.filter(code="A3").update(balance=99)
"""


def _pg_url(name: str) -> str:
    sd = connections["default"].settings_dict
    user = sd["USER"] or "postgres"
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{sd['HOST'] or '127.0.0.1'}:{sd['PORT'] or 5432}/{name}"


def _db_name(suffix: str) -> str:
    return f"railops_tp_{suffix}_{os.getpid()}"


def _create_db(name: str) -> str:
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return _pg_url(name)


def _drop_db(name: str) -> None:
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_site(path: Path, url: str) -> Project:
    """The project's files, its apps' migrations made by makemigrations, and DATABASE_URL."""
    (path / "tpsite").mkdir(parents=True)
    (path / "tpsite" / "__init__.py").write_text("")
    (path / "tpsite" / "urls.py").write_text("urlpatterns = []\n")
    (path / "manage.py").write_text(
        "import sys\n\nfrom django.core.management import execute_from_command_line\n\n"
        "execute_from_command_line(sys.argv)\n"
    )
    settings_file = path / "tpsite" / "settings.py"
    settings_file.write_text(textwrap.dedent(SETTINGS))
    for app, models in (("shop", SHOP_MODELS), ("journal", JOURNAL_MODELS)):
        (path / app / "migrations").mkdir(parents=True)
        (path / app / "__init__.py").write_text("")
        (path / app / "migrations" / "__init__.py").write_text("")
        (path / app / "models.py").write_text(textwrap.dedent(models))
    (path / "seed.py").write_text(textwrap.dedent(SEED))
    site = Project(path, "tpsite.settings", settings_file, url)
    return site


def at(site: Project, url: str) -> Project:
    """The same project pointed at another database."""
    other = Project(site.path, "tpsite.settings", site.settings_file, url)
    other.env.update({k: v for k, v in site.env.items() if k.startswith("RAILOPS_")})
    return other


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, (done.args, done.stdout[-2000:], done.stderr[-3000:])
    return done


def shell(site: Project, code: str) -> None:
    ok(site.manage("shell", "-c", code))


# -- the state a restore must give back exactly ------------------------------------------------

_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
_SEQUENCES = (
    "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
)
_TRIGGERS = (
    "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace ORDER BY 1, 2"
)
_FUNCTIONS = "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1"


def pg_state(url: str) -> dict[str, Any]:
    """Every table's rows (as text, sorted), every sequence's position, every trigger's mode."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(_TABLES).fetchall()]
        rows = {
            t: sorted(r[0] for r in conn.execute(f'SELECT x::text FROM "{t}" x').fetchall())
            for t in tables
            if t != "railops_django_release"
        }
        return {
            "rows": rows,
            "sequences": conn.execute(_SEQUENCES).fetchall(),
            "triggers": conn.execute(_TRIGGERS).fetchall(),
            "functions": conn.execute(_FUNCTIONS).fetchall(),
        }


def backup(site: Project, engine: str) -> dict[str, Any]:
    """``backup create`` with ``engine``; the manifest it wrote."""
    saved = dict(site.env)
    site.env["RAILOPS_BACKUP_ENGINE"] = engine
    try:
        created, code = site.json("backup", "create")
    finally:
        site.env = saved
    assert code == 0, [(f["id"], f["title"], f.get("detail")) for f in created["findings"]]
    name = created["backup"]["name"]
    return json.loads(next((site.path / "backups").rglob(f"{name}.json")).read_text())


def restore(site: Project, manifest: dict[str, Any]) -> dict[str, Any]:
    """``backup restore NAME`` into ``site``'s database, whichever database the backup is of."""
    done, code = site.json(
        "backup",
        "restore",
        manifest["name"],
        "--noinput",
        "--from-database",
        identity_key(manifest["database"]),
    )
    assert code == 0, [(f["id"], f["title"], f.get("detail")) for f in done["findings"]]
    assert "backup.restore.done" in [f["id"] for f in done["findings"]]
    return done


def still_works(site: Project, state: Any) -> None:
    """New rows after a restore, through the apps' APIs: every sequence is past the restored
    rows (no duplicate key), pghistory's triggers record events, and the triggers restored
    disabled or absent stay so (the seed disabled protect_deletes, uninstalled code_read_only)."""
    before = state(site.url)["rows"]
    shell(site, AFTER)
    journal = "journal_account" in before
    if journal:
        shell(
            site,
            "from journal.models import Account; "
            "Account.objects.filter(code='A1').update(code='A1x'); "  # code_read_only: absent
            "Account.objects.filter(code='A2').delete()",  # protect_deletes: disabled
        )
    after = state(site.url)["rows"]
    new = {t: len(after[t]) - len(before[t]) for t in after}
    assert new["auth_user"] == new["shop_product"] == new["django_celery_beat_periodictask"] == 1
    assert new["shop_historicalproduct"] == 1 and new["taggit_taggeditem"] == 1
    if not journal:
        return
    assert new["journal_account"] == 0  # 'late' in, A2 out
    # insert + update of 'late', update of A1 (the code change); the delete is not tracked
    assert new["journal_accountevent"] == 3
    labels = {
        when: Counter(row.split(",")[2] for row in rows["journal_accountevent"])
        for when, rows in (("before", before), ("after", after))
    }
    assert labels["after"] - labels["before"] == Counter(insert=1, update=2)


# -- PostgreSQL: both engines ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_site(tmp_path_factory, django_db_blocker):
    """The project on its own database, migrated and seeded, with one backup per engine (or
    why it could not be taken)."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    name = _db_name("src")
    with django_db_blocker.unblock():
        site = build_site(tmp_path_factory.mktemp("pg") / "tpsite", _create_db(name))
        try:
            ok(site.manage("makemigrations", "shop", "journal"))
            ok(site.manage("migrate", "--noinput"))
            shell(site, "import seed; seed.run(4)")
            ok(site.manage("pgtrigger", "disable", "journal.Account:protect_deletes"))
            ok(site.manage("pgtrigger", "uninstall", "journal.Account:code_read_only"))
            state = pg_state(site.url)
            backups: dict[str, Any] = {}
            for engine in ("native", "pg_dump"):
                try:
                    backups[engine] = backup(site, engine)
                except AssertionError as exc:  # the tests of that engine fail with it
                    backups[engine] = str(exc)
            yield site, state, backups
        finally:
            _drop_db(name)


def _backup_of(backups: dict[str, Any], engine: str) -> dict[str, Any]:
    if isinstance(backups[engine], str):
        pytest.fail(f"the {engine} backup failed: {backups[engine]}")
    return cast(dict[str, Any], backups[engine])


@pytest.fixture(scope="module", params=["native", "pg_dump"])
def restored(request, pg_site, django_db_blocker):
    """Each engine's backup restored into a new, empty database; the project pointed there."""
    site, _state, backups = pg_site
    engine = request.param
    name = _db_name(f"empty_{engine}")
    with django_db_blocker.unblock():
        target = at(site, _create_db(name))
        try:
            restore(target, _backup_of(backups, engine))
            yield target, pg_state(target.url)
        finally:
            _drop_db(name)


@pytest.fixture
def empty_pg(pg_site, django_db_blocker):
    """The project pointed at a new, empty database of this test's own."""
    site, _state, _backups = pg_site
    name = _db_name("empty")
    with django_db_blocker.unblock():
        yield at(site, _create_db(name))
        _drop_db(name)


def _triggers(state: dict[str, Any]) -> dict[str, str]:
    """Trigger -> tgenabled, without pgtrigger's hash suffix."""
    return {name.rsplit("_", 1)[0]: mode for _table, name, mode in state["triggers"]}


@pytest.mark.postgres
def test_native_backup__pgtrigger_add_trigger_migrations__triggers_and_functions_covered(
    pg_site,
):
    # pghistory's event triggers and the model's own arrive through pgtrigger's AddTrigger, an
    # operation from outside Django: the SQL it runs creates the triggers and their functions.
    _site, state, backups = pg_site
    info = _backup_of(backups, "native")["engine_info"]
    assert info["not_covered"] == []
    assert _triggers(state) == {
        "pgtrigger_insert_insert": "O",
        "pgtrigger_update_update": "O",
        "pgtrigger_protect_deletes": "D",
    }


@pytest.mark.postgres
def test_native_backup__trigger_disabled_by_pgtrigger__its_mode_in_the_manifest(pg_site):
    _site, _state, backups = pg_site
    info = _backup_of(backups, "native")["engine_info"]
    recorded = {t["name"].rsplit("_", 1)[0]: t["enabled"] for t in info["triggers"]}
    assert recorded == {
        "pgtrigger_insert_insert": "enabled",
        "pgtrigger_update_update": "enabled",
        "pgtrigger_protect_deletes": "disabled",
    }


@pytest.mark.postgres
def test_restore_into_empty__every_row_and_sequence_as_backed_up(pg_site, restored):
    _site, state, _backups = pg_site
    _target, now = restored
    assert now["rows"] == state["rows"]
    assert now["sequences"] == state["sequences"]
    assert now["functions"] == state["functions"]


@pytest.mark.postgres
def test_restore_into_empty__pghistory_events__each_written_once(pg_site, restored):
    # The tracked rows load with pghistory's insert trigger on: each would write an event again.
    _site, state, _backups = pg_site
    _target, now = restored
    assert now["rows"]["journal_accountevent"] == state["rows"]["journal_accountevent"]
    labels = Counter(row.split(",")[2] for row in now["rows"]["journal_accountevent"])
    assert labels == Counter(insert=4, update=3)  # A0's balance stayed 0: no update event


@pytest.mark.postgres
def test_restore_into_empty__trigger_disabled_at_backup__restored_disabled(pg_site, restored):
    _site, state, _backups = pg_site
    _target, now = restored
    assert _triggers(now)["pgtrigger_protect_deletes"] == "D"
    assert now["triggers"] == state["triggers"]


@pytest.mark.postgres
def test_restore_into_empty__trigger_uninstalled_at_backup__not_created_again(pg_site, restored):
    # Migrating the empty database creates code_read_only; the backup's database had none.
    _site, state, _backups = pg_site
    _target, now = restored
    assert "pgtrigger_code_read_only" not in _triggers(now)
    assert now["triggers"] == state["triggers"]


@pytest.mark.postgres
def test_restore_into_empty__new_rows_get_new_ids_and_the_triggers_fire(restored):
    target, _now = restored
    still_works(target, pg_state)


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["native", "pg_dump"])
def test_restore_in_place__after_changes__rows_sequences_triggers_as_backed_up(pg_site, engine):
    site, state, backups = pg_site
    # Since the backup: rows and events added, changed, deleted; code_read_only installed
    # again (the native restore must drop it: a migration creates it, the backup lacks it),
    # protect_deletes enabled again.
    shell(site, CHANGES)
    ok(site.manage("pgtrigger", "install", "journal.Account:code_read_only"))
    ok(site.manage("pgtrigger", "enable", "journal.Account:protect_deletes"))
    changed = pg_state(site.url)
    assert changed["rows"] != state["rows"]
    assert _triggers(changed)["pgtrigger_code_read_only"] == "O"

    restore(site, _backup_of(backups, engine))

    assert pg_state(site.url) == state
    still_works(site, pg_state)


@pytest.mark.postgres
def test_native_restore__manifest_names_a_trigger_no_migration_creates__fails_loads_nothing(
    pg_site, empty_pg
):
    site, _state, backups = pg_site
    manifest = _backup_of(backups, "native")
    path = next((site.path / "backups").rglob(f"{manifest['name']}.json"))
    original = path.read_text()
    edited = json.loads(original)
    edited["engine_info"]["triggers"].append(
        {"table": "journal_account", "name": "audit_by_hand", "enabled": "enabled"}
    )
    path.write_text(json.dumps(edited))
    try:
        done, code = empty_pg.json(
            "backup",
            "restore",
            manifest["name"],
            "--noinput",
            "--from-database",
            identity_key(manifest["database"]),
        )
    finally:
        path.write_text(original)

    assert code == 2, done["findings"]
    (failed,) = [f for f in done["findings"] if f["id"] == "backup.restore.failed"]
    assert "audit_by_hand on journal_account" in failed["detail"], failed
    assert empty_pg.query("SELECT count(*) FROM journal_accountevent") == [(0,)]


# -- SQLite: its backup-API engine, the apps that run there ---------------------------------


def sqlite_state(url: str) -> dict[str, Any]:
    """Every table's rows, sorted (sqlite_sequence holds the autoincrement positions), and
    the schema. The planner's statistics (sqlite_stat*, which the restore's ANALYZE writes)
    are left out, as on PostgreSQL."""
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_stat%' ORDER BY 1"
            ).fetchall()
        ]
        rows = {
            t: sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{t}"').fetchall())
            for t in tables
            if t != "railops_django_release"
        }
        schema = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' "
            "AND name NOT LIKE 'sqlite_stat%' ORDER BY 1, 2"
        ).fetchall()
    return {"rows": rows, "schema": schema}


@pytest.fixture(scope="module")
def sqlite_site(tmp_path_factory):
    """The project (without the PostgreSQL-only pgtrigger/pghistory) on a SQLite file."""
    path = tmp_path_factory.mktemp("sqlite")
    site = build_site(path / "tpsite", f"sqlite:///{path / 'source.sqlite3'}")
    ok(site.manage("makemigrations", "shop"))
    ok(site.manage("migrate", "--noinput"))
    shell(site, "import seed; seed.run(4)")
    state = sqlite_state(site.url)
    assert state["rows"]["shop_historicalproduct"] and state["rows"]["taggit_taggeditem"]
    return site, state, backup(site, "auto")


def test_sqlite_restore__into_an_empty_file__rows_and_autoincrements_as_backed_up(
    sqlite_site, tmp_path
):
    _site, state, manifest = sqlite_site
    assert manifest["engine"] == "sqlite"
    target = at(_site, f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    restore(target, manifest)

    assert sqlite_state(target.url) == state
    still_works(target, sqlite_state)


def test_sqlite_restore__in_place_after_changes__rows_and_autoincrements_as_backed_up(
    sqlite_site,
):
    site, state, manifest = sqlite_site
    shell(site, CHANGES)
    assert sqlite_state(site.url)["rows"] != state["rows"]

    restore(site, manifest)

    assert sqlite_state(site.url) == state
    still_works(site, sqlite_state)
