"""railway_deploy end to end on the real test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from railops_django.migrate import current_state as migration_state
from railops_django.models import Release
from tests.utils import row_counts, run_command, schema_dump


@pytest.fixture
def backup_dir(tmp_path, monkeypatch):
    path = tmp_path / "backups"
    monkeypatch.setenv("RAILOPS_BACKUP_DIR", str(path))
    return path


@pytest.mark.django_db(transaction=True)
def test_deploy__migrated_database__succeeds_records_release_with_backup(backup_dir):
    out, err, code = run_command("railway_deploy", "--format", "json", "--skip-collectstatic")
    data = json.loads(out)
    assert code == 0, data["findings"]
    assert [s["step"] for s in data["steps"]] == [
        "prerequisites",
        "backup",
        "release",
        "migrate",
        "static",
        "health",
    ]
    release = Release.objects.get()
    assert release.status == "succeeded" and release.finished_at is not None
    assert release.backup_name and release.backup_name == data["release"]["backup"]
    assert release.migrations_after == migration_state("default")
    assert release.migrations_after["shop"] == "0003_seed_categories"
    assert [s["step"] for s in release.step_log][-1] == "health"
    assert list(backup_dir.rglob("*.json")), "the predeploy backup has a manifest"


@pytest.mark.django_db(transaction=True)
def test_deploy__twice__two_releases_second_applies_nothing(backup_dir):
    assert run_command("railway_deploy", "--skip-collectstatic")[2] == 0
    assert run_command("railway_deploy", "--skip-collectstatic")[2] == 0
    first, second = Release.objects.order_by("id")
    assert first.status == second.status == "succeeded"
    assert second.migrations_before == second.migrations_after == first.migrations_after


@pytest.mark.django_db(transaction=True)
def test_dry_run__changes_nothing_and_says_would(backup_dir):
    schema, counts = schema_dump(), row_counts()
    out, _, code = run_command("railway_deploy", "--dry-run")
    assert code == 0, out
    assert "Would back up" in out and "Would record a release" in out
    assert schema_dump() == schema
    assert row_counts() == counts
    assert Release.objects.count() == 0
    assert not backup_dir.exists() or not any(backup_dir.rglob("*"))


@pytest.mark.django_db(transaction=True)
def test_require_offsite_backup__local_only_storage_fails_before_anything(backup_dir):
    out, _, code = run_command("railway_deploy", "--require-offsite-backup", "--format", "json")
    data = json.loads(out)
    assert code == 2
    assert data["findings"][0]["id"] in {"deploy.backup.local_only", "deploy.failed"}
    assert any(f["id"] == "deploy.backup.local_only" for f in data["findings"])
    assert [s["step"] for s in data["steps"]][-1] == "backup"
    assert Release.objects.count() == 0 or Release.objects.get().status == "failed"
    assert not backup_dir.exists() or not list(backup_dir.rglob("*.json"))


@pytest.mark.django_db(transaction=True)
def test_history__lists_releases_newest_first(backup_dir):
    run_command("railway_deploy", "--skip-collectstatic", "--no-backup")
    run_command("railway_deploy", "--skip-collectstatic", "--no-backup")
    out, _, code = run_command("railway_deploy", "--history", "--format", "json")
    releases = json.loads(out)["releases"]
    assert code == 0
    assert [r["id"] for r in releases] == sorted((r["id"] for r in releases), reverse=True)
    assert len(releases) == 2


@pytest.mark.django_db(transaction=True)
def test_no_backup__is_a_warning_not_a_failure(backup_dir):
    out, _, code = run_command(
        "railway_deploy", "--no-backup", "--skip-collectstatic", "--format", "json"
    )
    data = json.loads(out)
    assert code == 0
    assert any(
        f["id"] == "deploy.backup.skipped" and f["severity"] == "warning" for f in data["findings"]
    )


@pytest.mark.django_db(transaction=True)
def test_failing_migration__release_failed_schema_restored_exit_2(backup_dir, settings):
    schema = schema_dump()
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.deploy.failapp"]
    out, _, code = run_command("railway_deploy", "--skip-collectstatic", "--format", "json")
    data = json.loads(out)
    assert code == 2
    assert data["steps"][-1]["step"] == "migrate" and data["steps"][-1]["outcome"] == "failed"
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "tests.deploy.failapp"]
    assert schema_dump() == schema, "the failed deploy left the schema as it was"
    release = Release.objects.get()
    assert release.status == "failed" and release.failed_step == "migrate"
    # safe_migrate used the deploy's backup (it took none of its own) and named it.
    assert data["rollback_plan"]["backup"] == release.backup_name
    assert "migrate.backup.skipped" not in [f["id"] for f in data["findings"]]
    assert "backup restore" in next(
        f["fix"] for f in data["findings"] if f["id"] == "deploy.failed"
    )
