"""emergency_rollback on the real test database, with test apps standing in for releases."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import call_command
from django.db import connection

from railops_django.migrate import current_state as migration_state
from railops_django.models import Release
from tests.utils import run_command, run_manage, schema_dump

R2 = "tests.rollback.r2app"
IRREV = "tests.rollback.irrevapp"
REVFAIL = "tests.rollback.revfailapp"
LABELS = {R2: "railops_r2app", IRREV: "railops_irrevapp", REVFAIL: "railops_revfailapp"}


def _content() -> dict[str, str]:
    """Per-table content checksums (count + md5 over ordered rows)."""
    out = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table.startswith(
                "sqlite_"
            ):  # sqlite_stat1: the statistics a restore's ANALYZE writes
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows = sorted(repr(r) for r in cursor.fetchall())
            digest = hashlib.md5("\n".join(rows).encode()).hexdigest()
            out[table] = f"{len(rows)}:{digest}"
    return out


@pytest.fixture
def backup_dir(tmp_path, monkeypatch):
    path = tmp_path / "backups"
    monkeypatch.setenv("RAILOPS_BACKUP_DIR", str(path))
    return path


@pytest.fixture
def test_apps(settings):
    added: list[str] = []

    def enable(*apps: str) -> None:
        added.extend(apps)
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, *apps]

    yield enable
    for app in added:
        _drop_app(LABELS[app])
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a not in added]


def _drop_app(label: str) -> None:
    """Remove a test app's tables and migration records (its migrations may be irreversible)."""
    from django.apps import apps

    call_command("migrate", label, "zero", fake=True, verbosity=0)
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
    with connection.schema_editor() as editor:
        for model in reversed(list(apps.get_app_config(label).get_models())):
            if model._meta.db_table in existing:
                editor.delete_model(model)


def _release(status: str = "succeeded", backup: str = "") -> Release:
    return Release.objects.create(
        status=status, migrations_after=migration_state("default"), backup_name=backup
    )


def _two_releases(test_apps, failed_between: bool = False) -> tuple[Release, Release, list]:
    test_apps(R2)
    call_command("migrate", "railops_r2app", "0001", verbosity=0)
    s1 = schema_dump()
    release1 = _release()
    if failed_between:  # a deploy that failed before migrating
        _release(status="failed")
    call_command("migrate", "railops_r2app", "0003", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO railops_r2app_gadget (name, color) VALUES ('g', 'red')")
    release2 = _release(backup="default-20260101T000000Z-predeploy")
    return release1, release2, s1


@pytest.mark.django_db(transaction=True)
def test_recover__without_accepting_data_loss__refuses_and_names_the_backup(test_apps, backup_dir):
    _, release2, _ = _two_releases(test_apps)
    out, _, code = run_command("emergency_rollback", "recover", "--noinput", "--format", "json")
    data = json.loads(out)
    assert code == 2
    refusal = data["findings"][0]
    assert refusal["id"] == "rollback.data_loss"
    assert (
        "railops_r2app.0003_accessory" in refusal["detail"]
        and "railops_r2app.0002_gadget_color" in refusal["detail"]
    )
    assert release2.backup_name in refusal["fix"]
    assert Release.objects.get(pk=release2.pk).status == "succeeded"
    assert migration_state("default")["railops_r2app"] == "0003_accessory"


@pytest.mark.django_db(transaction=True)
def test_recover__dry_run__says_would_and_changes_nothing(test_apps, backup_dir):
    _two_releases(test_apps)
    schema = schema_dump()
    out, _, code = run_command("emergency_rollback", "recover", "--dry-run", "--accept-data-loss")
    assert code == 0
    assert "Would take an emergency backup" in out and "Would unapply 2 migration(s)" in out
    assert schema_dump() == schema
    assert not backup_dir.exists()


@pytest.mark.django_db(transaction=True)
def test_recover__accept_data_loss__schema_back_at_release_1_and_ledger_marked(
    test_apps, backup_dir
):
    release1, release2, s1 = _two_releases(test_apps, failed_between=True)
    failed = Release.objects.get(status=Release.Status.FAILED)
    out, err, code = run_command(
        "emergency_rollback", "recover", "--noinput", "--accept-data-loss", "--format", "json"
    )
    data = json.loads(out)
    assert code == 0, data["findings"]
    assert schema_dump() == s1, "the schema is identical to a dump taken at S1"
    assert migration_state("default") == release1.migrations_after
    assert Release.objects.get(pk=release2.pk).status == "rolled_back"
    assert Release.objects.get(pk=failed.pk).status == "failed"  # not relabelled
    assert data["emergency_backup"].endswith("-emergency")
    assert list(backup_dir.rglob("*emergency*.json")), "an emergency backup was taken first"
    assert data["assess_after"], "assess ran again"


@pytest.mark.django_db(transaction=True)
def test_recover__irreversible_migration__refused_even_accepting_loss(test_apps, backup_dir):
    test_apps(IRREV)
    call_command("migrate", "railops_irrevapp", "0001", verbosity=0)
    _release()
    call_command("migrate", "railops_irrevapp", "0002", verbosity=0)
    release2 = _release(backup="default-20260101T000000Z-predeploy")
    out, _, code = run_command(
        "emergency_rollback", "recover", "--noinput", "--accept-data-loss", "--format", "json"
    )
    data = json.loads(out)
    assert code == 2
    assert data["findings"][0]["id"] == "rollback.irreversible"
    assert "railops_irrevapp.0002_backfill" in data["findings"][0]["detail"]
    assert f"--backup {release2.backup_name}" in data["findings"][0]["fix"]
    assert migration_state("default")["railops_irrevapp"] == "0002_backfill"


@pytest.mark.django_db(transaction=True)
def test_recover__unknown_release__exit_3():
    _release()
    _, err, code = run_command("emergency_rollback", "recover", "--to-release", "999", "--noinput")
    assert code == 3 and "release 999 does not exist" in err


@pytest.mark.django_db(transaction=True)
def test_recover_backup__restores_the_data_exactly(backup_dir):
    from railops_django.backup import create

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO shop_category (name, slug) VALUES ('Toys', 'toys')")
    before = _content()
    name = create("default", tier="manual").name
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM shop_category WHERE slug = 'toys'")
        cursor.execute("INSERT INTO auth_group (name) VALUES ('intruders')")
    out, err, code = run_command(
        "emergency_rollback", "recover", "--backup", name, "--noinput", "--format", "json"
    )
    assert code == 0, out + err
    after = _content()
    assert {t: after[t] for t in before if t != "railops_django_release"} == {
        t: before[t] for t in before if t != "railops_django_release"
    }


@pytest.mark.django_db(transaction=True)
def test_assess__code_rolled_back_without_schema__critical_recommends_restore():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0099_future', CURRENT_TIMESTAMP)"
        )
    try:
        out, _, code = run_command("emergency_rollback", "assess", "--format", "json")
    finally:  # django_migrations is not flushed between tests
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_migrations WHERE name = '0099_future'")
    data = json.loads(out)
    assert code == 2
    ids = [f["id"] for f in data["findings"]]
    assert "rollback.code_behind_schema" in ids
    rec = next(f for f in data["findings"] if f["id"] == "rollback.recommendation")
    assert rec["data"]["path"] == "restore" and "recover --backup" in rec["fix"]


@pytest.mark.django_db(transaction=True)
def test_assess__pending_migrations__recommends_safe_migrate():
    call_command("migrate", "shop", "0002", verbosity=0)
    try:
        out, _, code = run_command("emergency_rollback", "assess", "--format", "json")
    finally:
        call_command("migrate", "shop", verbosity=0)
    data = json.loads(out)
    # example_project's healthcheck is railops' gate, which answers 503 while a migration is
    # pending: the replay of it is critical, as Railway's healthcheck would fail
    assert code == 2
    replay = next(f for f in data["findings"] if f["id"] == "diagnose.edge.healthcheck")
    assert replay["severity"] == "critical" and "503" in replay["title"]
    pending = next(f for f in data["findings"] if f["id"] == "rollback.pending")
    assert pending["data"]["migrations"] == ["shop.0003_seed_categories"]
    rec = next(f for f in data["findings"] if f["id"] == "rollback.recommendation")
    assert rec["data"]["path"] == "migrate" and rec["fix"] == "python manage.py safe_migrate"


def test_assess__unreachable_database__critical_recommends_configuration():
    proc = run_manage(
        "emergency_rollback",
        "assess",
        "--format",
        "json",
        env={"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"},
    )
    data = json.loads(proc.stdout)
    assert proc.returncode == 2
    ids = [f["id"] for f in data["findings"]]
    assert ids[0] == "rollback.connect.refused"
    rec = next(f for f in data["findings"] if f["id"] == "rollback.recommendation")
    assert rec["data"]["path"] == "configuration"


@pytest.mark.django_db(transaction=True)
def test_guide__names_real_releases_migrations_and_code_first_order(test_apps):
    release1, release2, _ = _two_releases(test_apps)
    out, _, code = run_command("emergency_rollback", "guide", "--format", "json")
    data = json.loads(out)
    assert code == 0
    guide = "\n".join(data["manual_guide"])
    assert "python manage.py migrate railops_r2app 0001_initial" in guide
    assert f"recover --to-release {release1.pk}" in guide
    assert "the code goes back first" in guide
    # the old code cannot reverse migrations it does not have: the step says whose manage.py
    assert "NEW code's manage.py" in guide
    assert guide.index("Redeploy (roll back the code)") < guide.index("migrate railops_r2app 0001")


def test_bad_combination__exit_3():
    _, err, code = run_command("emergency_rollback", "assess", "--backup", "x")
    assert code == 3 and "go with recover" in err


def _suggested_restore(guide: list[str]) -> list[str]:
    line = next(step for step in guide if "backup restore" in step)
    words = line.split("python manage.py backup restore ", 1)[1].split(" (", 1)[0].split()
    return ["restore", *words]


@pytest.mark.django_db(transaction=True)
def test_guide__restore_step_names_a_backup_restore_accepts(backup_dir):
    # a backup taken at another migration state than the code's: restore needs --force
    call_command("migrate", "shop", "0002", verbosity=0)
    try:
        _, err, code = run_command("backup", "create")
        assert code == 0, err
    finally:
        call_command("migrate", "shop", verbosity=0)
    out, _, _ = run_command("emergency_rollback", "guide", "--format", "json")
    argv = _suggested_restore(json.loads(out)["manual_guide"])
    assert "--force" in argv and "shop.0003_seed_categories" in out
    _, err, code = run_command("backup", *argv, "--dry-run")
    assert code == 0, err  # the advice is a command restore accepts
    # with a backup at the code's state, that one is named, without --force
    _, err, code = run_command("backup", "create")
    out, _, _ = run_command("emergency_rollback", "guide", "--format", "json")
    argv = _suggested_restore(json.loads(out)["manual_guide"])
    assert "--force" not in argv
    _, err, code = run_command("backup", *argv, "--dry-run")
    assert code == 0, err


def _future_migration_applied():
    """The code was rolled back and the schema was not: a migration only newer code has."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) "
            "VALUES ('shop', '0099_future', CURRENT_TIMESTAMP)"
        )


def _forget_future_migration():
    with connection.cursor() as cursor:  # django_migrations is not flushed between tests
        cursor.execute("DELETE FROM django_migrations WHERE name = '0099_future'")


@pytest.mark.django_db(transaction=True)
def test_recover_to_release__code_lacks_an_applied_migration__refused_naming_it(backup_dir):
    release = _release()
    _future_migration_applied()
    try:
        out, err, code = run_command(
            "emergency_rollback", "recover", "--to-release", str(release.pk), "--noinput"
        )
    finally:
        _forget_future_migration()
    assert code == 3 and len(err.strip().splitlines()) == 1, out + err
    assert "shop.0099_future" in err and "recover --backup" in err
    assert "already at release" not in out + err


@pytest.mark.django_db(transaction=True)
def test_assess__code_behind_schema__recommends_the_backup_at_the_codes_state(backup_dir):
    out, _, code = run_command("backup", "create", "--format", "json")
    at_code_state = json.loads(out)["backup"]["name"]
    _future_migration_applied()
    try:
        out, _, code = run_command("emergency_rollback", "backup", "--format", "json")
        broken = json.loads(out)["backup"]
        out, _, code = run_command("emergency_rollback", "assess", "--format", "json")
    finally:
        _forget_future_migration()
    data = json.loads(out)
    assert [b["name"] for b in data["backups"]][:2] == [broken, at_code_state]
    rec = next(f for f in data["findings"] if f["id"] == "rollback.recommendation")
    assert rec["fix"].endswith(f"recover --backup {at_code_state}"), rec


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_restore_force__tables_of_migrations_the_backup_lacks__refused_saying_what_to_unapply(
    test_apps, backup_dir
):
    # pg_restore --clean drops only what the dump holds: the tables of migrations made after
    # the backup stayed, without their django_migrations rows, and the next migrate failed
    # on them ('relation already exists'). The guide advised exactly that.
    out, _, code = run_command("backup", "create", "--format", "json")
    older = json.loads(out)["backup"]["name"]
    test_apps(R2)
    call_command("migrate", "railops_r2app", verbosity=0)
    before = _content()

    out, err, code = run_command("backup", "restore", older, "--noinput", "--force")

    assert code == 3 and len(err.strip().splitlines()) == 1, out + err
    assert "railops_r2app_gadget" in err and "python manage.py migrate railops_r2app zero" in err
    assert _content() == before
    call_command("migrate", "railops_r2app", "zero", verbosity=0)
    out, err, code = run_command("backup", "restore", older, "--noinput", "--force")
    assert code == 0, out + err
    out, err, code = run_command("safe_migrate", "--noinput")  # the code's state comes back
    assert code == 0, out + err


@pytest.mark.django_db(transaction=True)
def test_guide__code_rolled_back_onto_a_dropped_column__schema_first_with_the_new_code(
    backup_dir,
):
    # Release 2's code (not this one) dropped shop_product.stock in shop.0099_future; then the
    # code went back to release 1's, which still maps the column.
    from shop.models import Product

    release1 = _release()
    _future_migration_applied()
    field = Product._meta.get_field("stock")
    with connection.schema_editor() as editor:
        editor.remove_field(Product, field)
    try:
        after = {**migration_state("default"), "shop": "0099_future"}
        Release.objects.create(status="succeeded", migrations_after=after)
        out, _, code = run_command("emergency_rollback", "guide", "--format", "json")
    finally:
        with connection.schema_editor() as editor:
            editor.add_field(Product, field)
        _forget_future_migration()
    assert code == 0, out
    guide = "\n".join(json.loads(out)["manual_guide"])
    # the old code does not run on this schema (assess shows the 500): it must not say it does
    assert "the old code runs on the new schema" not in guide
    assert "shop_product.stock" in guide and "shop.0099_future" in guide
    assert "NEW code's manage.py" in guide
    assert guide.index("python manage.py migrate shop") < guide.index(
        "Redeploy (roll back the code)"
    )
    assert f"recover --to-release {release1.pk}" in guide


@pytest.mark.django_db(transaction=True)
def test_guide__after_a_restore__never_advises_restoring_its_safety_copy(backup_dir):
    # A restore's safety copy holds the state the restore replaced (the broken one): the
    # guide's restore step must name the backup that was restored, as assess does.
    from django.core.management import call_command

    call_command("migrate", "shop", "0002", verbosity=0)
    try:
        out, _, code = run_command("backup", "create", "--format", "json")
        assert code == 0, out
        good = json.loads(out)["backup"]["name"]
    finally:
        call_command("migrate", "shop", verbosity=0)
    out, err, code = run_command("backup", "restore", good, "--noinput", "--force")
    assert code == 0, out + err
    call_command("migrate", "shop", verbosity=0)  # the code's state again, as after safe_migrate
    out, _, _ = run_command("emergency_rollback", "guide", "--format", "json")
    guide = json.loads(out)["manual_guide"]
    argv = _suggested_restore(guide)
    from railops_django.backup import list_backups

    safety = [b.name for b in list_backups("default") if b.safety_for]
    assert safety, "the restore took its safety copy"
    assert argv[1] not in safety, guide
    assert argv[1] == good


@pytest.mark.django_db(transaction=True)
def test_recover__reverse_code_raises__one_finding_with_the_guide_no_traceback(
    test_apps, backup_dir
):
    test_apps(REVFAIL)
    call_command("migrate", "railops_revfailapp", "0001", verbosity=0)
    release1 = _release()
    call_command("migrate", "railops_revfailapp", "0002", verbosity=0)
    _release()
    for fmt in ("text", "json"):
        out, err, code = run_command(
            "emergency_rollback", "recover", "--noinput", "--accept-data-loss", "--format", fmt
        )
        assert code == 2, out + err
        assert "Traceback" not in out + err and "internal error" not in out + err
    data = json.loads(out)
    failed = data["findings"][0]
    assert failed["id"] == "rollback.recover.failed"
    assert "the reverse of this data migration has a bug" in failed["detail"]
    assert data["emergency_backup"] in failed["fix"]  # the state before, to restore by hand
    assert data["manual_guide"] and f"release {release1.pk}" in "\n".join(data["manual_guide"])
    assert migration_state("default")["railops_revfailapp"] == "0002_reverse_fails"
