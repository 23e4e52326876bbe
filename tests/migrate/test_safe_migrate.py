"""safe_migrate end to end, in-process, on the real test database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connections

from railops_django import migrate
from railops_django.db import locks
from railops_django.migrate import runner
from tests.migrate.conftest import schema_dump
from tests.utils import run_command


def _json(out: str) -> dict:
    return json.loads(out)


def _ids(payload: dict) -> list[str]:
    return [f["id"] for f in payload["findings"]]


def _tables() -> set[str]:
    connection = connections["default"]
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def test_nothing_pending__exits_0_without_taking_the_lock(migrate_apps):
    out, err, code = run_command("safe_migrate", "--noinput", "--format", "json")
    payload = _json(out)
    assert code == 0, err
    assert "migrate.nothing_pending" in _ids(payload)
    assert "lock" not in payload


def test_force__nothing_pending__runs_post_migrate_and_backup_step(migrate_apps, settings):
    from django.contrib.contenttypes.models import ContentType

    from railops_django.backup import list_backups

    ContentType.objects.filter(app_label="shop").delete()
    out, err, code = run_command("safe_migrate", "--noinput", "--force", "--format", "json")
    payload = _json(out)
    assert code == 0, err
    assert "migrate.applied" in _ids(payload)
    assert "migrate.backup.created" in _ids(payload)
    (backup,) = list_backups("default")
    assert backup.tier == "predeploy" and backup.name in out
    # post_migrate handlers ran: content types are back.
    assert ContentType.objects.filter(app_label="shop").exists()


def test_pending_plan__applied_in_order_with_timings_and_rollback_plan(migrate_apps, tmp_path):
    migrate_apps("fail_a")
    out, err, code = run_command("safe_migrate", "--noinput", "--format", "json")
    payload = _json(out)
    assert code == 0, err
    assert "migrate.applied" in _ids(payload)
    assert payload["plan"]["by_app"] == {"fail_a": ["0001_initial"]}
    assert [t["status"] for t in payload["timings"]] == ["applied"]
    assert payload["rollback_plan"]["targets"] == {"fail_a": "zero"}
    assert {"lint", "preflight", "rollback_plan", "timings"} <= set(payload)
    assert "fail_a_alpha" in _tables()
    assert migrate.current_state()["fail_a"] == "0001_initial"
    stored = list((tmp_path / "backups" / "rollback-plans").glob("*.json"))
    assert len(stored) == 1 and oct(stored[0].stat().st_mode & 0o777) == "0o600"
    assert json.loads(stored[0].read_text())["targets"] == {"fail_a": "zero"}


def test_failure__last_of_three_migrations_across_two_apps__back_to_pre_run_state(migrate_apps):
    migrate_apps("fail_a", "fail_b")
    before = schema_dump()
    out, err, code = run_command("safe_migrate", "--noinput", "--no-backup")
    assert code == 2, out + err
    assert "fail_b.0002_boom failed" in out and "boom: this migration fails on purpose" in out
    assert "[migrate.rollback.done]" in out and "rollback plan:" in out
    assert "python manage.py migrate fail_a zero" in out
    assert schema_dump() == before
    assert not ({"fail_a_alpha", "fail_b_beta"} & _tables())


def test_dry_run__schema_and_django_migrations_identical(migrate_apps, tmp_path):
    migrate_apps("fail_a", "fail_b")
    before = schema_dump()
    out, err, code = run_command("safe_migrate", "--dry-run", "--format", "json")
    payload = _json(out)
    assert code == 0, err
    assert "migrate.dry_run" in _ids(payload)
    assert [s["migration"] for s in payload["plan"]["steps"]] == [
        "0001_initial",
        "0001_initial",
        "0002_boom",
    ]
    assert any("CREATE TABLE" in line for line in payload["sql"]["fail_a.0001_initial"])
    assert payload["lock"]["attempts"] >= 1
    assert schema_dump() == before
    assert not (tmp_path / "backups").exists()


def test_conflicting_leaves__exit_3_with_merge_hint(migrate_apps):
    migrate_apps("conflict")
    _, err, code = run_command("safe_migrate", "--noinput")
    assert code == 3
    assert "makemigrations --merge" in err and "conflict" in err


def test_unknown_app__exit_3(migrate_apps):
    _, err, code = run_command("safe_migrate", "no_such_app", "--noinput")
    assert code == 3 and "no_such_app" in err


def test_blocking_lint_finding__stops_before_applying__allow_unsafe_lets_it_through(migrate_apps):
    migrate_apps("unsafe")
    call_command("migrate", "unsafe", "0001", verbosity=0)
    before = schema_dump()
    out, _, code = run_command("safe_migrate", "unsafe", "--noinput", "--format", "json")
    payload = _json(out)
    assert code == 2
    assert {"migrate.lint.rename_column", "migrate.blocked"} <= set(_ids(payload))
    assert schema_dump() == before
    out, err, code = run_command(
        "safe_migrate", "unsafe", "--noinput", "--allow-unsafe", "rename_column", "--format", "json"
    )
    assert code == 0, out + err
    assert migrate.current_state()["unsafe"] == "0002_rename"


def test_lock_held_by_another_process__gives_up_after_lock_wait(migrate_apps, settings):
    migrate_apps("fail_a")
    settings.RAILOPS = {**settings.RAILOPS, "MIGRATION_LOCK_WAIT": 0.6}
    with locks.migration_lock("default", wait_s=1):
        out, _, code = run_command("safe_migrate", "--noinput", "--format", "json")
    assert code == 2
    assert "migrate.lock.timeout" in _ids(_json(out))
    assert "fail_a" not in {a for a, n in migrate.current_state().items() if n != "zero"}


def test_lock__second_holder_waits_for_the_first(migrate_apps):
    released = threading.Event()

    def hold() -> None:
        with locks.migration_lock("default", wait_s=1):
            released.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        threading.Timer(0.5, released.set).start()
        time.sleep(0.1)
        with locks.migration_lock("default", wait_s=5) as held:
            assert held.waited_s >= 0.3 and held.attempts > 1
    finally:
        released.set()
        thread.join()
        connections.close_all()


def test_rollback_plan_helper__targets_per_app(migrate_apps):
    migrate_apps("fail_a", "fail_b")
    plan = migrate.rollback_plan("default")
    assert plan["targets"] == {"fail_a": "zero", "fail_b": "zero"}
    assert plan["reverse_order"][0] == "fail_b.0002_boom"
    assert plan["all_reversible"] is True
    assert plan["commands"] == [
        "python manage.py migrate fail_b zero",
        "python manage.py migrate fail_a zero",
    ]
    assert "fail_b.0001_initial" in plan["loses_data"]


def test_backoff__grows_exponentially_with_jitter():
    for attempt in range(1, 6):
        base = runner.BACKOFF_BASE_S * 2 ** (attempt - 1)
        assert base * 0.5 <= runner.backoff_s(attempt) <= base * 1.5
    assert runner.backoff_s(50) <= runner.BACKOFF_CAP_S * 1.5


def test_bad_option__negative_retries__exit_3(migrate_apps):
    _, err, code = run_command("safe_migrate", "--retries", "-1")
    assert code == 3 and "--retries" in err


@pytest.mark.sqlite
def test_sqlite_lock__file_next_to_the_database(migrate_apps):
    path = locks.sqlite_lock_path("default")
    assert str(path).startswith(str(connections["default"].settings_dict["NAME"]))


def test_failure_after_irreversible_step__names_the_state_and_the_way_back(migrate_apps):
    migrate_apps("fail_c")
    try:
        out, err, code = run_command(
            "safe_migrate", "--noinput", "--no-backup", "--statement-timeout", "200"
        )
        assert code == 2, out + err
        assert "[migrate.rollback.manual]" in out and "NOT at its pre-run state" in out
        assert "Irreversible in this run: fail_c.0001_initial" in out
        assert "python manage.py migrate fail_c zero" in out
        assert migrate.current_state()["fail_c"] == "0001_initial"
        if connections["default"].vendor == "postgresql":
            assert "statement timeout" in out and "--statement-timeout" in out
    finally:
        call_command("migrate", "fail_c", "zero", fake=True, verbosity=0)
        with connections["default"].cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS fail_c_gamma")


def test_interactive_without_terminal__destructive_plan_refused_use_noinput(
    migrate_apps, monkeypatch
):
    from railops_django.migrate import pipeline
    from railops_django.report import CannotRun

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(CannotRun, match="use --noinput"):
        pipeline._confirm("Continue?")


@pytest.mark.postgres
def test_lock_connection_fails__classified_finding_exit_2(migrate_apps, monkeypatch):
    migrate_apps("fail_a")
    monkeypatch.setenv("DATABASE_UNPOOLED_URL", "postgres://postgres@127.0.0.1:1/nowhere")
    out, _, code = run_command("safe_migrate", "--noinput", "--format", "json")
    payload = _json(out)
    assert code == 2
    assert "migrate.lock.connect.refused" in _ids(payload)
    assert migrate.current_state()["fail_a"] == "zero"


@pytest.mark.postgres
def test_unpooled_url_names_another_database__locks_the_right_one(migrate_apps, monkeypatch):
    monkeypatch.setenv("DATABASE_UNPOOLED_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with locks.migration_lock("default", wait_s=1) as held:
        assert held.target.startswith(connections["default"].settings_dict["NAME"] + " ")


def test_target_migration__applies_up_to_it_then_back_to_zero(migrate_apps):
    migrate_apps("fail_a", "fail_b")
    out, err, code = run_command("safe_migrate", "fail_b", "0001", "--noinput", "--format", "json")
    assert code == 0, out + err
    assert _json(out)["plan"]["by_app"] == {"fail_a": ["0001_initial"], "fail_b": ["0001_initial"]}
    assert migrate.current_state()["fail_b"] == "0001_initial"
    out, err, code = run_command("safe_migrate", "fail_b", "zero", "--noinput", "--format", "json")
    payload = _json(out)
    assert code == 0, out + err
    assert [s["direction"] for s in payload["plan"]["steps"]] == ["backwards"]
    assert migrate.current_state()["fail_b"] == "zero"
    assert migrate.current_state()["fail_a"] == "0001_initial"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fail_b", "0009"], "no migration of fail_b matches '0009'"),
        (["fail_b", "0"], "more than one migration of fail_b matches"),
    ],
)
def test_bad_migration_name__exit_3(migrate_apps, args, message):
    migrate_apps("fail_a", "fail_b")
    _, err, code = run_command("safe_migrate", *args, "--noinput")
    assert code == 3 and message in err


def test_replica_waiting_for_the_lock__finds_the_work_done__exits_0(migrate_apps):
    migrate_apps("fail_a")
    holding, results = threading.Event(), {}

    def first_replica() -> None:
        with locks.migration_lock("default", wait_s=1):
            holding.set()
            time.sleep(0.5)  # the second replica is now polling for the lock
            call_command("migrate", "fail_a", verbosity=0)
        connections.close_all()

    thread = threading.Thread(target=first_replica)
    thread.start()
    holding.wait(5)
    try:
        results["report"] = migrate.run("default", backup=False)
    finally:
        thread.join()
    payload = results["report"].as_dict()
    assert payload["exit_code"] == 0
    assert "migrate.already_migrated" in _ids(payload)
    assert payload["lock"]["waited_s"] > 0.2


class _Made:
    name = "default-20260101T000000Z-predeploy"


def test_schema_only_backup__taken_first_and_named_in_the_rollback_plan(migrate_apps):
    from railops_django.backup import list_backups

    migrate_apps("fail_a")
    payload = migrate.run("default", schema_only_backup=True).as_dict()
    assert payload["exit_code"] == 0
    (backup,) = list_backups("default")
    assert backup.tier == "predeploy" and backup.manifest["schema_only"] is True
    assert payload["rollback_plan"]["backup"] == backup.name
    assert "migrate.backup.created" in _ids(payload)


def test_backup_fails__nothing_applied_exit_3(migrate_apps, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the backup directory should be")
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_DIR": str(blocker / "backups")}
    migrate_apps("fail_a")
    _, err, code = run_command("safe_migrate", "--noinput")
    assert code == 3 and "--no-backup" in err
    assert migrate.current_state()["fail_a"] == "zero"


def test_postcheck__runs_the_real_drift_check_on_the_touched_apps(migrate_apps, monkeypatch):
    from railops_django.db import schema
    from railops_django.migrate import pipeline

    seen = []

    def recording_drift(alias, app_labels=None):
        seen.append(app_labels)
        return schema.drift(alias, app_labels=app_labels)

    monkeypatch.setattr(pipeline, "drift", recording_drift)
    migrate_apps("fail_a")
    payload = migrate.run("default", backup=False).as_dict()
    assert seen == [["fail_a"]]
    assert not [i for i in _ids(payload) if i.startswith("schema.drift")]
    assert "migrate.postcheck.drift" in _ids(payload)


def test_is_lock_timeout__sqlstates_and_sqlite_message():
    class PgError(Exception):
        def __init__(self, sqlstate):
            super().__init__("x")
            self.sqlstate = sqlstate

    wrapped = RuntimeError("outer")
    wrapped.__cause__ = PgError("55P03")
    assert locks.is_lock_timeout(wrapped)
    assert locks.is_lock_timeout(PgError("40P01"))
    assert not locks.is_lock_timeout(PgError("57014")) and locks.is_statement_timeout(
        PgError("57014")
    )
    assert locks.is_lock_timeout(Exception("database is locked"))
    assert not locks.is_lock_timeout(Exception("syntax error"))


def test_failure_in_non_atomic_migration__warns_that_steps_may_be_applied(migrate_apps):
    migrate_apps("partial")
    try:
        out, err, code = run_command("safe_migrate", "--noinput", "--no-backup", "--format", "json")
        payload = _json(out)
        assert code == 2, err
        assert {"migrate.apply.failed", "migrate.apply.partial"} <= set(_ids(payload))
        assert "partial_half" in _tables()  # what the warning is about
        # The migration records are as before, the database is not: nothing says otherwise.
        assert "migrate.rollback.not_needed" not in _ids(payload)
        assert "Nothing to restore" not in out
        assert "migrate.rollback.data_not_restored" in _ids(payload)
    finally:
        with connections["default"].cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS partial_half")


@pytest.mark.parametrize("tty", [True, False])
def test_progress__on_stderr_only_on_a_terminal(migrate_apps, tty):
    migrate_apps("fail_a")
    out, err, code = run_command("safe_migrate", "--noinput", "--no-backup", tty=tty)
    assert code == 0, out + err
    assert ("fail_a.0001_initial: applied in" in err) is tty
    assert "applied in" not in out.split("Applied 1 migration")[0]


def test_failure_after_a_dropped_column_and_a_data_migration__says_the_data_is_not_back(
    migrate_apps,
):
    migrate_apps("lossfail")
    call_command("migrate", "lossfail", "0001", verbosity=0)
    with connections["default"].cursor() as cursor:
        cursor.execute("INSERT INTO lossfail_item (stock, note) VALUES (5, 'a'), (7, 'b')")
    out, err, code = run_command(
        "safe_migrate", "--noinput", "--allow-unsafe", "drop_column", "--format", "json"
    )
    payload = _json(out)
    assert code == 2, err
    assert migrate.current_state()["lossfail"] == "0001_initial"  # the records went back
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT stock, note FROM lossfail_item ORDER BY id")
        assert cursor.fetchall() == [(0, "filled"), (0, "filled")]  # the data did not
    assert "migrate.rollback.done" not in _ids(payload) and "Nothing to restore" not in out
    lost = next(f for f in payload["findings"] if f["id"] == "migrate.rollback.data_not_restored")
    assert lost["severity"] == "critical"
    assert "lossfail.0002_remove_item_stock" in lost["detail"]
    assert "lossfail.0003_fill_note" in lost["detail"]
    backup = payload["rollback_plan"]["backup"]
    assert backup and f"python manage.py backup restore {backup}" in lost["fix"]
    # Followed literally, with this code (its migrations pending again), it brings the data back.
    argv = lost["fix"].split("python manage.py ", 1)[1].split(" (", 1)[0].split()
    out, err, code = run_command(*argv)
    assert code == 0, out + err
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT stock, note FROM lossfail_item ORDER BY id")
        assert cursor.fetchall() == [(5, "a"), (7, "b")]


def test_dry_run__backup_dir_not_writable__exit_3_as_the_real_run(migrate_apps, settings, tmp_path):
    migrate_apps("fail_a")
    not_a_dir = tmp_path / "not-a-dir"
    not_a_dir.write_text("a file where the backup directory should be")
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_DIR": str(not_a_dir)}
    _, real_err, real_code = run_command("safe_migrate", "--noinput")
    assert real_code == 3 and "backup failed" in real_err  # what the dry run must foretell
    out, err, code = run_command("safe_migrate", "--dry-run")
    assert code == 3, out + err
    assert len(err.strip().splitlines()) == 1 and str(not_a_dir) in err and "--no-backup" in err
    assert "Would take a predeploy backup" not in out
    out, err, code = run_command("safe_migrate", "--dry-run", "--no-backup")
    assert code == 0, out + err


def test_dry_run__backwards_target__says_would_unapply(migrate_apps):
    migrate_apps("fail_a")
    call_command("migrate", "fail_a", verbosity=0)
    out, err, code = run_command("safe_migrate", "fail_a", "zero", "--dry-run", "--no-backup")
    assert code == 0, out + err
    assert "Would unapply 1 migration(s): fail_a.0001_initial" in out
    assert "Would apply" not in out
    assert "fail_a_alpha" in _tables()  # a dry run
