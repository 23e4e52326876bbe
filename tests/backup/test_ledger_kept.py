"""The release ledger and the health samples outlive a restore (SQLite, and PostgreSQL with the
pg_dump engine).

Restoring a backup put back the ledger of the backup's moment: the releases since vanished
from ``emergency_rollback --history``, and the next deploy took one of their ids again.
"""

from __future__ import annotations

import datetime as dt

import pytest

from railops_django.backup import list_backups
from railops_django.models import HealthSample, Release
from tests.utils import run_command

LONG_AGO = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _ledger() -> dict[int, str]:
    return dict(Release.objects.order_by("id").values_list("id", "status"))


@pytest.mark.django_db(transaction=True)
def test_restore__releases_since_the_backup__kept_and_marked_rolled_back(backup_dir):
    first = Release.objects.create(status=Release.Status.SUCCEEDED, git_sha="a" * 40)
    deploying = Release.objects.create(status=Release.Status.STARTED, git_sha="b" * 40)
    out, err, code = run_command("backup", "create", "--tier", "predeploy")
    assert code == 0, out + err
    (backup,) = list_backups()
    # the deploy that took that backup went on, and two more came after it
    Release.objects.filter(id=deploying.id).update(
        status=Release.Status.SUCCEEDED, backup_name=backup.name
    )
    later = Release.objects.create(status=Release.Status.SUCCEEDED, git_sha="c" * 40)
    Release.objects.filter(id=later.id).update(started_at=LONG_AGO)
    failed = Release.objects.create(status=Release.Status.FAILED, failed_step="migrate")

    out, err, code = run_command("backup", "restore", backup.name, "--noinput")
    assert code == 0, out + err
    assert _ledger() == {
        first.id: "succeeded",
        deploying.id: "rolled_back",  # its own pre-deploy backup was restored
        later.id: "rolled_back",  # the backup does not hold it
        failed.id: "failed",
    }
    assert Release.objects.get(id=later.id).started_at == LONG_AGO
    assert Release.objects.get(id=failed.id).failed_step == "migrate"
    assert Release.objects.create().id == failed.id + 1  # no id of the history again


@pytest.mark.django_db(transaction=True)
def test_restore__into_a_database_without_releases__keeps_the_backups_ledger(backup_dir):
    Release.objects.create(status=Release.Status.SUCCEEDED)
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    (backup,) = list_backups()
    Release.objects.all().delete()
    out, err, code = run_command("backup", "restore", backup.name, "--noinput")
    assert code == 0, out + err
    assert list(_ledger().values()) == ["succeeded"]


@pytest.mark.django_db(transaction=True)
def test_restore__health_samples_recorded_since_the_backup__kept(backup_dir):
    # Before: the dashboard's history lost every sample from the backup's time to the restore.
    older = HealthSample.objects.create(status="ok", metrics={"connections": 1})
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    (backup,) = list_backups()
    since = [
        HealthSample.objects.create(status="warning", metrics={"connections": n}) for n in (7, 9)
    ]
    recorded = {s.id: s.recorded_at for s in since}
    out, err, code = run_command("backup", "restore", backup.name, "--noinput")
    assert code == 0, out + err
    kept = list(HealthSample.objects.order_by("id").values_list("id", "status", "metrics"))
    assert kept == [
        (older.id, "ok", {"connections": 1}),
        (since[0].id, "warning", {"connections": 7}),
        (since[1].id, "warning", {"connections": 9}),
    ]
    assert {s.id: s.recorded_at for s in HealthSample.objects.filter(id__in=recorded)} == recorded
    assert HealthSample.objects.create().id == since[1].id + 1
