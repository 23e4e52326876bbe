"""Squashed migrations shipped next to the ones they replace (wagtail, django-oscar...).

``migrate`` records the squash and every migration it replaces, while the loader's graph holds
the squash only: a backup taken a second ago must still count as at the code's migration state.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from railops_django.db.postgres import native as pg_native
from railops_django.rollback.guide import manual_steps
from tests.utils import run_command

APP = "railops_testapp"
SQUASH = "0001_squashed_0002_second"
MIGRATE_RECORDS = ("0001_initial", "0002_second", SQUASH)  # what 'migrate' writes


@pytest.fixture
def squashed_app(settings, backup_dir, shop_data):
    settings.MIGRATION_MODULES = {APP: "tests.backup.squashed_migrations"}
    recorder = MigrationRecorder(connection)

    def record(*names: str) -> None:
        for name in names:
            recorder.record_applied(APP, name)

    yield record
    recorder.migration_qs.filter(app=APP).delete()


@pytest.mark.parametrize(
    "recorded",
    [MIGRATE_RECORDS, ("0001_initial", "0002_second")],
    ids=["as_migrate_records_them", "taken_before_the_squash_existed"],
)
def test_restore__squashed_migrations_applied__restores_without_force(squashed_app, recorded):
    squashed_app(*recorded)
    _out, err, code = run_command("backup", "create")
    assert code == 0, err

    out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--format", "json")

    assert code == 0, out + err
    ids = [f["id"] for f in json.loads(out)["findings"]]
    assert "backup.restore.migrations_differ" not in ids
    assert "backup.restore.done" in ids
    assert "--force" not in " ".join(manual_steps("default"))


def test_restore__only_part_of_a_squash_applied__still_refuses_naming_the_rest(squashed_app):
    squashed_app("0001_initial")
    _out, err, code = run_command("backup", "create")
    assert code == 0, err

    out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--format", "json")

    assert code == 2, out + err
    finding = json.loads(out)["findings"][0]
    assert finding["id"] == "backup.restore.migrations_differ"
    assert f"{APP}.0002_second" in finding["detail"]


SHELF_SQUASH = (APP, "0001_squashed_0002_shelf_label")
SHELF = "railops_testapp_shelf"


@pytest.fixture
def shelf_app(settings, backup_dir, transactional_db):
    """railops_testapp with a squash beside what it replaces and a later migration on a replaced
    one, migrated as 'migrate' does (the squash applied, all four recorded); native engine."""
    settings.MIGRATION_MODULES = {APP: "tests.backup.squashed_shelf_migrations"}
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "native"}
    MigrationExecutor(connection).migrate([(APP, "0003_shelf_colour")])
    yield
    MigrationExecutor(connection).migrate([(APP, None)])
    MigrationRecorder(connection).migration_qs.filter(app=APP).delete()


@pytest.mark.postgres
@pytest.mark.parametrize("squash_last", [False, True], ids=["squash_first", "squash_last"])
def test_native_coverage__squash_beside_what_it_replaces__every_later_column_covered(
    shelf_app, squash_last
):
    applied = sorted(MigrationRecorder(connection).applied_migrations())
    assert SHELF_SQUASH in applied and (APP, "0002_shelf_label") in applied
    applied.remove(SHELF_SQUASH)
    applied = [*applied, SHELF_SQUASH] if squash_last else [SHELF_SQUASH, *applied]

    cover = pg_native.coverage("default", applied)

    assert cover.columns[SHELF] == ["id", "name", "label", "colour"]


@pytest.mark.postgres
def test_native_create__squash_beside_what_it_replaces__complete_backup(shelf_app, backup_dir):
    out, err, code = run_command("backup", "create", "--format", "json")

    assert code == 0, out + err
    name = json.loads(out)["backup"]["name"]
    manifest = json.loads((backup_dir / f"{name}.json").read_text())
    assert manifest["engine"] == "native"
    assert manifest["engine_info"]["not_covered"] == []
    assert manifest["engine_info"]["tables"][SHELF]["columns"] == ["id", "name", "label", "colour"]
