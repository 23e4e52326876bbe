"""railway_deploy end to end on the real test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from railops_django.migrate import current_state as migration_state
from railops_django.models import Release
from tests.utils import row_counts, run_command, run_manage, schema_dump


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
    # safe_migrate undid what it applied: nothing is left to restore, so nothing says restore.
    failed = next(f for f in data["findings"] if f["id"] == "deploy.failed")
    assert "nothing to restore" in failed["detail"]
    assert "restore" not in failed["fix"] and "recover" not in failed["fix"]


@pytest.mark.django_db(transaction=True)
def test_failing_migration_after_a_dropped_column__says_restore_not_nothing_to_restore(
    backup_dir, settings
):
    from django.core.management import call_command
    from django.db import connection

    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.migrate.apps.lossfail"]
    try:
        call_command("migrate", "lossfail", "0001", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO lossfail_item (stock, note) VALUES (5, 'a')")
        out, _, code = run_command(
            "railway_deploy", "--skip-collectstatic", "--allow-unsafe", "drop_column",
            "--format", "json",
        )  # fmt: skip
        data = json.loads(out)
        assert code == 2
        assert migration_state("default")["lossfail"] == "0001_initial"
        release = Release.objects.get()
        failed = next(f for f in data["findings"] if f["id"] == "deploy.failed")
        assert "nothing to restore" not in failed["detail"]
        assert "nothing was applied" not in data["headline"].lower()
        assert f"python manage.py backup restore {release.backup_name}" in failed["fix"]
        # Followed literally, with this (new) code, the advice brings the data back.
        argv = failed["fix"].split("python manage.py ", 1)[1].split(";", 1)[0].split()
        out, err, code = run_command(*argv)
        assert code == 0, out + err
        with connection.cursor() as cursor:
            cursor.execute("SELECT stock, note FROM lossfail_item")
            assert cursor.fetchall() == [(5, "a")]
    finally:
        call_command("migrate", "lossfail", "zero", verbosity=0)
        settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if "lossfail" not in a]


# --- accepting a risk, and what a failure tells ---------------------------------------------

RISKAPP = "tests.deploy.riskapp"


@pytest.fixture
def riskapp_at_0001(settings, backup_dir):
    """riskapp's table exists (0001 applied, as a previous release left it); 0002 renames a
    column that the previous release still reads, which the lint blocks."""
    from django.core.management import call_command

    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, RISKAPP]
    call_command("migrate", "railops_riskapp", "0001", verbosity=0)
    yield
    call_command("migrate", "railops_riskapp", "zero", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_allow_unsafe__unknown_rule__exit_3_one_line_nothing_run(backup_dir):
    out, err, code = run_command("railway_deploy", "--allow-unsafe", "add_index,no_such_rule")
    assert code == 3, (out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "no_such_rule" in err and "add_index" in err
    assert Release.objects.count() == 0
    assert not backup_dir.exists()


@pytest.mark.django_db(transaction=True)
def test_allow_unsafe__negative_lock_timeout__exit_3_one_line(backup_dir):
    _, err, code = run_command("railway_deploy", "--lock-timeout", "-1")
    assert code == 3 and len(err.strip().splitlines()) == 1 and "--lock-timeout" in err


@pytest.mark.django_db(transaction=True)
def test_blocked__applied_nothing__says_so_and_offers_only_the_flag_that_exists(riskapp_at_0001):
    before = migration_state("default")
    out, err, code = run_command("railway_deploy", "--skip-collectstatic", "--format", "json")
    data = json.loads(out)
    assert code == 2, data["findings"]
    assert migration_state("default") == before
    ids = [f["id"] for f in data["findings"]]
    assert "migrate.lint.rename_column" in ids and "migrate.blocked" in ids
    blocked = next(f for f in data["findings"] if f["id"] == "migrate.blocked")
    assert "python manage.py railway_deploy --allow-unsafe rename_column" in blocked["fix"]
    failed = next(f for f in data["findings"] if f["id"] == "deploy.failed")
    assert "Nothing was applied" in failed["detail"]
    assert "nothing was applied" in data["headline"]
    everything = json.dumps(data["findings"])
    assert "backup restore" not in everything and "emergency_rollback recover" not in everything
    assert "rollback_plan" not in data, "no way back is needed from a run that applied nothing"
    assert Release.objects.get().status == "failed"

    # The text a person reads: what happened first, then the fix; no restore anywhere.
    text, _, code = run_command("railway_deploy", "--skip-collectstatic")
    assert code == 2
    assert text.splitlines()[1].startswith("Deploy stopped at step 'migrate': nothing was applied")
    assert "restore" not in text.split("Also checked:")[0].replace("nothing to restore", "")

    # The fix it offers works: the same command with the flag deploys.
    out, err, code = run_command(
        "railway_deploy", "--skip-collectstatic", "--allow-unsafe", "rename_column"
    )
    assert code == 0, (out, err)
    assert migration_state("default")["railops_riskapp"] == "0002_rename_title_name"
    assert Release.objects.order_by("-id").first().status == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_failed_after_migrating__points_at_recovery(riskapp_at_0001, settings, tmp_path):
    """A step after migrate fails (collectstatic cannot create STATIC_ROOT): the migrations of
    this deploy stay applied, so the failure names the way back."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.STATIC_ROOT = str(blocker / "static")
    out, _, code = run_command(
        "railway_deploy", "--allow-unsafe", "rename_column", "--format", "json"
    )
    data = json.loads(out)
    assert code == 2
    assert data["steps"][-1]["step"] == "static"
    assert migration_state("default")["railops_riskapp"] == "0002_rename_title_name"
    failed = next(f for f in data["findings"] if f["id"] == "deploy.failed")
    assert "after migrating" in failed["title"]
    assert "emergency_rollback recover" in failed["fix"] and "backup restore" in failed["fix"]
    assert data["rollback_plan"]["targets"] == {"railops_riskapp": "0001_initial"}
    # The restore it names works when followed literally, with this (the new) code.
    argv = failed["fix"].split("python manage.py backup ", 1)[1].split(" (", 1)[0].split()
    out, err, code = run_command("backup", *argv, "--noinput")
    assert code == 0, out + err
    assert migration_state("default")["railops_riskapp"] == "0001_initial"


@pytest.mark.django_db(transaction=True)
def test_text__rollback_plan_summarised__json_keeps_it_whole(riskapp_at_0001, backup_dir):
    from django.core.management import call_command

    call_command("migrate", "railops_riskapp", "zero", verbosity=0)  # a plan with a create
    text, _, code = run_command(
        "railway_deploy", "--skip-collectstatic", "--allow-unsafe", "rename_column"
    )
    assert code == 0, text
    assert "rollback plan: 2 migration(s) across 1 app(s), all reversible" in text
    assert "reverse_order" not in text and "reverse_sql" not in text
    plan_line = next(line for line in text.splitlines() if "full plan:" in line)
    path = plan_line.split("full plan: ", 1)[1].split(" (")[0]
    written = json.loads(Path(path).read_text())
    assert written["reverse_order"] == [
        "railops_riskapp.0002_rename_title_name",
        "railops_riskapp.0001_initial",
    ]
    assert text.splitlines()[1].startswith("Deployed: release ")

    call_command("migrate", "railops_riskapp", "zero", verbosity=0)
    out, _, code = run_command(
        "railway_deploy",
        "--skip-collectstatic",
        "--allow-unsafe",
        "rename_column",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert code == 0
    assert len(data["rollback_plan"]["steps"]) == 2 and data["rollback_plan"]["reverse_sql"]
    assert data["rollback_plan_file"] and data["headline"].startswith("Deployed: release ")


def test_quickstart__first_deploy_on_sqlite__short_text_full_json(tmp_path):
    """The README's Quickstart: example_project's first railway_deploy from an empty SQLite
    database prints a page a person reads, not the whole rollback plan."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "RAILOPS_BACKUP_DIR": str(tmp_path / "backups"),
    }
    done = run_manage("railway_deploy", "--skip-collectstatic", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 60, done.stdout
    from django.db.migrations.loader import MigrationLoader

    every = len(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)  # example_project's
    every -= sum(1 for app, _ in MigrationLoader(None).graph.nodes if app == "testapp")
    assert lines[1].startswith(f"Deployed: release 1 recorded; {every} migration(s) applied")
    assert "way back: every app to zero (the run started from an empty database): " in done.stdout
    assert "sessions.0001_initial" not in done.stdout.split("lose data when reversed:")[0]

    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db2.sqlite3'}"
    done = run_manage("railway_deploy", "--skip-collectstatic", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)["rollback_plan"]
    assert len(plan["steps"]) == len(plan["reverse_order"]) == every


def test_dry_run__fresh_database__health_step_waits_for_the_migration(tmp_path):
    """The healthcheck gate answers 503 while migrations are pending: a dry run, which applies
    none, says it would replay it, instead of failing on the state it never changes."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "RAILOPS_BACKUP_DIR": str(tmp_path / "backups"),
    }
    done = run_manage("railway_deploy", "--dry-run", "--format", "json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    findings = {f["id"]: f for f in json.loads(done.stdout)["findings"]}
    assert "diagnose.edge.healthcheck" not in findings
    assert findings["deploy.health"]["title"].startswith("Would replay GET /railops/health/")


@pytest.mark.django_db(transaction=True)
def test_dry_run__backup_dir_not_writable__would_stop_at_backup_as_the_real_run_does(
    tmp_path, monkeypatch
):
    not_a_dir = tmp_path / "backups"
    not_a_dir.write_text("a file where the backup directory should be")
    monkeypatch.setenv("RAILOPS_BACKUP_DIR", str(not_a_dir))
    out, _, code = run_command(
        "railway_deploy", "--dry-run", "--skip-collectstatic", "--format", "json"
    )
    dry = json.loads(out)
    out, _, real_code = run_command("railway_deploy", "--skip-collectstatic", "--format", "json")
    real = json.loads(out)
    assert real_code == 2 and real["steps"][-1]["step"] == "backup"  # what the dry run foretells
    assert code == 2, dry["findings"]
    assert "would stop at step 'backup'" in dry["headline"]
    unwritable = next(f for f in dry["findings"] if f["id"] == "backup.storage_unwritable")
    assert str(not_a_dir) in unwritable["detail"]
    assert not any(f["title"].startswith("Would back up") for f in dry["findings"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("dry_run", [False, True])
def test_backup_storages_names_a_missing_storage__exit_3_one_line_nothing_done(
    backup_dir, monkeypatch, dry_run
):
    # As every other command: a bad setting is bad input, not a crash of the backup step.
    monkeypatch.setenv("RAILOPS_BACKUP_STORAGES", "local,nosuch")
    out, err, code = run_command("railway_deploy", *(["--dry-run"] if dry_run else []))
    assert code == 3, out + err
    assert out == "" and len(err.strip().splitlines()) == 1 and "'nosuch'" in err
    assert "crashed" not in err
    assert Release.objects.count() == 0
    assert not backup_dir.exists() or not any(backup_dir.rglob("*.json"))
