"""The native engine on an app that ships a squash beside what it replaces, with a data
migration that writes through the ORM without ``.using()`` (as wagtail's initial_data does).

``verify --restore-test`` migrates a scratch database through a temporary alias. Such a data
migration writes wherever the router sends it: without care, into the live ``default``
database (on a Wagtail site: an IntegrityError from production's wagtailcore_page, or, were
the insert to fit, a stray "Root" page committed there).
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import override_settings

from railops_django import backup, render
from railops_django.db.postgres import native as pg_native
from railops_django.db.postgres.backup_native import AllTo, migrations_see

pytestmark = pytest.mark.postgres

APP = "railops_testapp"
SHELF = "railops_testapp_shelf"


@pytest.fixture
def shelf_db(scratch, settings, tmp_path):
    settings.MIGRATION_MODULES = {APP: "tests.backup.squashed_shelf_migrations"}
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path / "backups"), "BACKUP_ENGINE": "native"}
    db = scratch()
    with override_settings(DATABASE_ROUTERS=[AllTo(db.alias)]):  # the seed goes there
        call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    assert db.sql(f"SELECT name FROM {SHELF}") == [("seed",)]
    return db


def test_restore_test__data_migration_without_using__writes_only_the_scratch_database(shelf_db):
    created = backup.create(shelf_db.alias, "manual")

    report = backup.verify(created.name, shelf_db.alias, restore_test=True)

    assert report.exit_code == 0, [(f.id, f.title, f.detail) for f in report.findings]
    assert [f.id for f in report.findings] == ["backup.verify.ok"]
    assert shelf_db.sql(f"SELECT name FROM {SHELF}") == [("seed",)]


def test_restore_test__a_migration_fails_on_the_scratch_database__restore_test_failed_naming_it(
    scratch, settings, tmp_path
):
    settings.MIGRATION_MODULES = {APP: "tests.native.assuming_migrations"}
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path / "backups"), "BACKUP_ENGINE": "native"}
    db = scratch()
    call_command("migrate", APP, "0001", database=db.alias, verbosity=0, interactive=False)
    db.sql(f"INSERT INTO {SHELF} (name) VALUES ('added by hand')")
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    created = backup.create(db.alias, "manual")

    report = backup.verify(created.name, db.alias, restore_test=True)

    assert report.exit_code == 2
    failed = report.findings[0]
    assert failed.id == "backup.verify.restore_test"
    assert f"{APP}.0002_rename_seed" in failed.detail and "DoesNotExist" in failed.detail
    assert json.loads(render.render(report, "json"))["status"] == "critical"
    assert db.sql(f"SELECT name FROM {SHELF}") == [("renamed",)]


def test_restore_test__migration_writes_to_default_alias__rows_reach_the_scratch_database(
    scratch, settings, tmp_path
):
    settings.MIGRATION_MODULES = {APP: "tests.native.default_alias_migrations"}
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path / "backups"), "BACKUP_ENGINE": "native"}
    db = scratch()
    with migrations_see(db.alias):  # as when db.alias is the project's default
        call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    created = backup.create(db.alias, "manual")
    live = connections[DEFAULT_DB_ALIAS]

    report = backup.verify(created.name, db.alias, restore_test=True)

    assert report.exit_code == 0, [(f.id, f.title, f.detail) for f in report.findings]
    assert connections[DEFAULT_DB_ALIAS] is live
    with live.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [SHELF])
        assert cursor.fetchone() == (None,)  # nothing was created on the live default
    assert db.sql(f"SELECT name FROM {SHELF}") == [("seed",)]


def test_restore__recorded_name_only_a_squash_replaces__restored_through_the_squash(
    scratch, settings
):
    settings.MIGRATION_MODULES = {APP: "tests.native.renamed_by_replaces_migrations"}
    db = scratch()
    call_command("migrate", APP, database=db.alias, verbosity=0, interactive=False)
    db.close()
    recorded = db.sql(f"SELECT name FROM django_migrations WHERE app = '{APP}' ORDER BY name")
    assert recorded == [("0001_initial",), ("0002_new_name",), ("0002_old_name",)]
    db.sql(f"INSERT INTO {SHELF} (name) VALUES ('added')")
    before = db.checksums()
    out = io.BytesIO()
    info = pg_native.dump(db.alias, out)
    out.seek(0)
    db.recreate_empty()

    pg_native.restore(db.alias, out, info)

    assert db.checksums() == before
