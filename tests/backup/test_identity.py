"""A backup knows its database (issue 15, point 5).

After DATABASE_URL pointed at a second database, ``backup list`` showed the first one's backups,
``create --if-due`` skipped because of them, ``restore --latest`` loaded them with no warning,
and ``report`` raised a false size jump from mixing them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from railops_django import backup
from railops_django.backup import archive, overview
from railops_django.db import identity
from tests.backup.conftest import table_checksums
from tests.backup.test_concurrency import manage_env
from tests.utils import EXAMPLE, run_command


def _manifest(backup_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((backup_dir / f"{name}.json").read_text())


def _rewrite(backup_dir: Path, name: str, change: Any) -> dict[str, Any]:
    data = _manifest(backup_dir, name)
    change(data)
    (backup_dir / f"{name}.json").write_text(json.dumps(data))
    return data


def _elsewhere(data: dict[str, Any]) -> None:
    """Make a manifest say it was taken of another database of the same vendor."""
    db = data["database"]
    if "path" in db:
        db["path"] = "/srv/other/db.sqlite3"
    else:
        db["name"] = "another_database"


def test_create__records_the_database_identity_and_no_credentials(backup_dir, shop_data):
    result = backup.create()
    db = result.manifest["database"]
    assert db["vendor"] == connection.vendor
    assert not {"user", "password", "USER", "PASSWORD"} & set(db)
    if connection.vendor == "sqlite":
        assert db["path"] == os.path.realpath(connection.settings_dict["NAME"])
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_database(), system_identifier::text FROM pg_control_system()"
            )
            name, system = cursor.fetchone()
        assert db["name"] == name and db["system_identifier"] == system
        assert db["port"] == int(connection.settings_dict["PORT"] or 5432)
    out, _err, code = run_command("backup", "list", "--format", "json")
    assert code == 0
    assert json.loads(out)["backups"][0]["database"] == identity.label(db)


@pytest.mark.postgres
def test_identity__no_execute_on_pg_control_system__falls_back_to_host_port_name(transactional_db):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE ROLE railops_bnames_plain NOLOGIN")
        cursor.execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
        cursor.execute("SET LOCAL ROLE railops_bnames_plain")
        facts = identity.identity("default")
        cursor.execute("RESET ROLE")
        transaction.set_rollback(True)
    assert facts["system_identifier"] is None
    assert facts["name"] == connection.settings_dict["NAME"]
    assert identity.same(facts, {**facts, "system_identifier": "123"})
    assert not identity.same(facts, {**facts, "name": "other"})


def test_same__cluster_id_wins_over_host_names():
    a = {
        "vendor": "postgresql",
        "host": "db.internal",
        "port": 5432,
        "name": "app",
        "system_identifier": "7",
    }
    assert identity.same(a, {**a, "host": "proxy.example", "port": 41234})
    assert not identity.same(a, {**a, "system_identifier": "8"})
    assert not identity.same(a, {"vendor": "sqlite", "path": "/x"})
    assert identity.label(None) == "identity unknown"


def _start(backup_dir: Path, url: str, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), *args, "--settings", "tests.settings"],
        env=manage_env(backup_dir, DATABASE_URL=url),
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def second_database(tmp_path):
    """The URL of a second, empty database of the same vendor."""
    if connection.vendor == "sqlite":
        path = tmp_path / "second.sqlite3"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE note (body TEXT)")
        yield f"sqlite:///{path}"
        return
    db = connection.settings_dict
    name = "railops_bnames_second"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        yield f"postgres://{db['USER'] or 'postgres'}@{host}:{port}/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_second_database__sees_only_its_own_backups(backup_dir, shop_data, second_database):
    tier = archive.scheduled_tier(datetime.now(UTC))
    first = [backup.create("default", tier).name for _ in range(3)]

    code, out, err = _start(backup_dir, second_database, "backup", "list", "--format", "json")
    assert code == 0, out + err
    listed = json.loads(out)
    assert listed["backups"] == []
    assert any(
        f["id"] == "backup.other_databases" and "3 backup(s)" in f["title"]
        for f in listed["findings"]
    )

    code, _out, err = _start(
        backup_dir, second_database, "backup", "restore", "--latest", "--noinput"
    )
    assert code == 3 and "no good backup of" in err and "3 backup(s) of other databases" in err
    code, _out, err = _start(
        backup_dir, second_database, "backup", "restore", first[0], "--noinput"
    )
    assert code == 3, err
    assert len(err.strip().splitlines()) == 1
    mine = backup.list_backups("default")[0].database
    assert identity.label(mine) in err and "--from-database " + identity.key(mine) in err

    code, out, err = _start(
        backup_dir, second_database, "backup", "create", "--if-due", "--format", "json"
    )
    assert code == 0, out + err
    second = json.loads(out)["backup"]["name"]  # due: the first database's backups do not count

    code, out, err = _start(backup_dir, second_database, "backup", "report", "--format", "json")
    assert code in (0, 1), out + err
    ids = {f["id"] for f in json.loads(out)["findings"]}
    assert "backup.report.size_jump" not in ids
    assert json.loads(out)["tiers"][0]["newest"] == second

    code, out, err = _start(
        backup_dir, second_database, "backup", "list", "--all", "--format", "json"
    )
    assert code == 0, out + err
    assert {b["name"] for b in json.loads(out)["backups"]} == {*first, second}

    # and the first database, in this process, still sees exactly its own
    assert {b.name for b in backup.list_backups("default")} == set(first)
    assert not any(f.id == "backup.report.size_jump" for f in overview.report("default").findings)


def test_restore_another_databases_backup__refused_without_the_flag_allowed_with_it(
    backup_dir, shop_data
):
    from shop.models import Category

    result = backup.create()
    at_backup = table_checksums()
    data = _rewrite(backup_dir, result.name, _elsewhere)
    theirs = identity.key(data["database"])
    Category.objects.create(name="after", slug="after")
    before = table_checksums()

    _out, err, code = run_command("backup", "restore", "--latest", "--noinput")
    assert code == 3 and "no good backup of" in err
    _out, err, code = run_command("backup", "restore", result.name, "--noinput")
    assert code == 3
    assert identity.label(data["database"]) in err
    assert identity.label(identity.identity("default")) in err
    assert f"--from-database {theirs}" in err and "nothing was changed" in err
    _out, err, code = run_command(
        "backup", "restore", result.name, "--noinput", "--from-database", "somewhere_else"
    )
    assert code == 3
    assert table_checksums() == before

    out, err, code = run_command(
        "backup",
        "restore",
        result.name,
        "--noinput",
        "--from-database",
        theirs,
        "--format",
        "json",
    )
    assert code == 0, out + err
    found = {f["id"]: f for f in json.loads(out)["findings"]}
    assert identity.label(data["database"]) in found["backup.restore.other_database"]["title"]
    assert table_checksums() == at_backup


def test_old_manifest_without_identity__listed_as_unknown_and_still_restorable(
    backup_dir, shop_data
):
    result = backup.create()
    _rewrite(backup_dir, result.name, lambda m: m.pop("database"))
    out, _err, code = run_command("backup", "list", "--format", "json")
    assert code == 0
    (row,) = json.loads(out)["backups"]
    assert row["database"] == "identity unknown"
    out, err, code = run_command(
        "backup", "restore", "--latest", "--noinput", "--dry-run", "--format", "json"
    )
    assert code == 0, out + err
    assert any(f["id"] == "backup.restore.identity_unknown" for f in json.loads(out)["findings"])
    # an old manifest of the other vendor is not this database's
    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    _rewrite(backup_dir, result.name, lambda m: m.update(vendor=other))
    assert backup.list_backups("default") == []


def test_cleanup__other_databases_backups_are_left_alone(backup_dir, shop_data, settings):
    settings.RAILOPS = {
        **settings.RAILOPS,
        "BACKUP_RETENTION": {"daily": 1, "weekly": 0, "monthly": 0},
        "BACKUP_MIN_GOOD": 1,
    }
    theirs = [backup.create("default", "daily").name for _ in range(3)]
    for name in theirs:
        _rewrite(backup_dir, name, _elsewhere)
    mine = [backup.create("default", "daily").name for _ in range(2)]
    out, err, code = run_command("backup", "cleanup")
    assert code == 0, out + err
    assert f"Deleted {mine[0]}" in out
    assert "3 backup(s) of other databases were left alone" in out
    for name in theirs:
        assert (backup_dir / f"{name}.json").exists()


@pytest.mark.postgres
def test_database_unreachable__list_and_report_warn_that_backups_are_matched_by_name_only(
    backup_dir, transactional_db, second_database
):
    code, out, err = _start(backup_dir, second_database, "backup", "create", "--format", "json")
    assert code == 0, out + err
    made = json.loads(out)["backup"]["name"]
    name = second_database.rsplit("/", 1)[1]
    with connection.cursor() as cursor:  # the server answers, this database no longer does
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')

    for command in ("list", "report"):
        code, out, err = _start(backup_dir, second_database, "backup", command, "--format", "json")
        result = json.loads(out)
        unreached = [f for f in result["findings"] if f["id"] == "backup.identity.unreached"]
        assert len(unreached) == 1, (command, result["findings"])
        assert unreached[0]["severity"] == "warning" and code == 1
        assert "host, port and name" in unreached[0]["title"]
        assert "not currently accepting connections" in unreached[0]["detail"]
    code, out, err = _start(backup_dir, second_database, "backup", "list", "--format", "json")
    assert [b["name"] for b in json.loads(out)["backups"]] == [made]


@pytest.mark.postgres
def test_database_answers_nothing__list_and_report_give_up_after_the_connect_timeout(tmp_path):
    # A server that accepts the TCP connection and never answers (a stalled proxy, a host
    # under load): the identity check connected without RAILOPS' CONNECT_TIMEOUT and
    # 'backup list' hung as long as the server kept silent.
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accepted: the kernel completes the handshake, nothing answers
    url = f"postgres://postgres@127.0.0.1:{silent.getsockname()[1]}/railops_silent"
    try:
        for command in ("list", "report"):
            started = time.monotonic()
            proc = subprocess.run(
                [
                    sys.executable,
                    str(EXAMPLE / "manage.py"),
                    "backup",
                    command,
                    "--format",
                    "json",
                    "--settings",
                    "tests.settings",
                ],
                env=manage_env(tmp_path / "backups", DATABASE_URL=url, RAILOPS_CONNECT_TIMEOUT="1"),
                cwd=EXAMPLE,
                capture_output=True,
                text=True,
                timeout=60,
            )
            took = time.monotonic() - started
            ids = [f["id"] for f in json.loads(proc.stdout)["findings"]]
            assert "backup.identity.unreached" in ids, (command, proc.stdout, proc.stderr)
            assert took < 15, (command, took)  # one timeout, plus Python's start
    finally:
        silent.close()


def test_recover_backup_of_another_database__refused_first_naming_a_command_that_exists(
    backup_dir, shop_data
):
    # emergency_rollback recover has no --from-database: its refusal must not tell the user to
    # add one, and it refuses before taking its emergency backup.
    result = backup.create()
    data = _rewrite(backup_dir, result.name, _elsewhere)
    theirs = identity.key(data["database"])
    before = table_checksums()
    _out, err, code = run_command(
        "emergency_rollback", "recover", "--backup", result.name, "--noinput"
    )
    assert code == 3 and len(err.strip().splitlines()) == 1, err
    assert "nothing was changed" in err
    assert f"python manage.py backup restore {result.name} --from-database {theirs}" in err
    assert table_checksums() == before
    assert [b.name for b in backup.list_backups(None)] == [result.name], "no emergency backup"
