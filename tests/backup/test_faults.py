"""Faults: a killed create, a read-only storage, an old or missing pg_dump, a failing pg_dump,
and the password never in any subprocess's argv."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from railops_django import backup
from railops_django.backup import list_backups, retention
from tests.backup.conftest import make_read_only, real, undo_read_only, wrapper_dir
from tests.utils import EXAMPLE, ROOT, run_command, run_manage

CANARY = "Canary-Pw-7f3a9"


def test_read_only_storage__exits_2_and_nothing_is_listed(backup_dir, shop_data):
    make_read_only(backup_dir)
    try:
        out, err, code = run_command("backup", "create")
        assert code == 2, out + err
        assert "backup.failed" in out and "cannot write to storage local" in out
        assert "Make it writable" in out
        assert backup.list_backups() == []
    finally:
        undo_read_only(backup_dir)
    assert list(backup_dir.iterdir()) == []


@pytest.mark.postgres
def test_old_pg_dump__exits_3_with_the_client_package_fix_unless_auto_falls_back(
    backup_dir, shop_data, tmp_path, monkeypatch, settings
):
    bindir = wrapper_dir(tmp_path, "pg_dump", 'echo "pg_dump (PostgreSQL) 12.9"\n')
    wrapper_dir(tmp_path, "pg_restore", f'exec {real("pg_restore")} "$@"\n')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    major = connection.pg_version // 10000
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "pg_dump"}
    _out, err, code = run_command("backup", "create")
    assert code == 3
    assert f"pg_dump 12.9 cannot dump a PostgreSQL {major} server" in err
    assert f"postgresql-client-{major}" in err and "RAILPACK_DEPLOY_APT_PACKAGES" in err
    assert list(backup_dir.glob("*")) == []
    # "auto" (the default) falls back to the native engine instead, and says why.
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "auto"}
    _out, err, code = run_command("backup", "create")
    assert code == 0, err
    (backup,) = list_backups()
    assert backup.manifest["engine"] == "native"
    assert backup.manifest["engine_reason"].startswith("auto: ")


@pytest.mark.postgres
def test_pg_dump_missing__exits_3_with_the_fix_unless_auto_falls_back(
    backup_dir, shop_data, tmp_path, monkeypatch, settings
):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "pg_dump"}
    _out, err, code = run_command("backup", "create")
    assert code == 3
    assert "pg_dump is not installed" in err and "postgresql-client-" in err
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "auto"}
    out, err, code = run_command("backup", "create", "--format", "json")
    assert code == 0, err
    assert list_backups()[0].manifest["engine"] == "native"
    assert "engine: native" in out


@pytest.mark.postgres
def test_pg_dump_fails_midway__exits_2_and_leaves_no_backup(
    backup_dir, shop_data, tmp_path, monkeypatch
):
    body = (
        f'case "$1" in --version) exec {real("pg_dump")} --version;; esac\n'
        f'{real("pg_dump")} "$@" | head -c 5000\n'
        'echo "pg_dump: error: connection lost" >&2\nexit 1\n'
    )
    bindir = wrapper_dir(tmp_path, "pg_dump", body)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    out, err, code = run_command("backup", "create")
    assert code == 2, out + err
    assert "pg_dump exited 1" in out and "connection lost" in out
    assert backup.list_backups() == []
    assert list(backup_dir.iterdir()) == []


@pytest.mark.postgres
def test_password__reaches_pg_dump_by_env_never_argv(backup_dir, shop_data, tmp_path, monkeypatch):
    log = tmp_path / "argv.log"
    body = (
        f'echo "ARGV: $0 $*" >> {log}\n'
        f'[ -n "$PGPASSWORD" ] && echo "ENV: password set" >> {log}\n'
        f'case "$0" in *pg_dump) exec {real("pg_dump")} "$@";; esac\n'
        f'exec {real("pg_restore")} "$@"\n'
    )
    bindir = wrapper_dir(tmp_path, "pg_dump", body)
    wrapper_dir(tmp_path, "pg_restore", body)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", CANARY)
    out, err, code = run_command("backup", "create", "--format", "json")
    assert code == 0, out + err
    out2, err2, code = run_command("backup", "verify", "--latest", "--restore-test")
    assert code == 0, out2 + err2
    logged = log.read_text()
    assert "ENV: password set" in logged  # the password did reach pg_dump, through the env
    assert "--snapshot=" in logged and "--list" in logged
    assert CANARY not in logged
    for path in backup_dir.iterdir():
        assert CANARY not in path.read_bytes().decode("utf-8", "replace")
    assert CANARY not in out + err + out2 + err2


@pytest.mark.postgres
def test_sigkill_mid_create__no_new_good_backup_and_cleanup_removes_leftover(
    backup_dir, shop_data, tmp_path
):
    earlier = backup.create()
    body = (
        f'case "$1" in --version) exec {real("pg_dump")} --version;; esac\n'
        f'{real("pg_dump")} "$@"\nsleep 30\n'
    )
    bindir = wrapper_dir(tmp_path, "pg_dump", body)
    db = connection.settings_dict
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "RAILOPS_BACKUP_DIR": str(backup_dir),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLE)]),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE / "manage.py"),
            "backup",
            "create",
            "--settings",
            "tests.settings",
        ],
        env=env,
        cwd=EXAMPLE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not list(backup_dir.glob(".*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(backup_dir.glob(".*.tmp")), "the create never started writing"
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        # the wrapper's pg_dump and sleep are in the same (new) process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert [b.name for b in backup.list_backups()] == [earlier.name]
    assert backup.verify(earlier.name).exit_code == 0
    leftovers = list(backup_dir.glob(".*.tmp")) + list(backup_dir.glob(".*.claim"))
    assert len(leftovers) == 2
    # the create that left them is gone (same host, no such process): removed at once
    report = retention.cleanup()
    assert report.exit_code == 0
    assert not any(p.exists() for p in leftovers)
    assert any(f.id == "backup.cleanup.dead_claims" for f in report.findings)
    assert [b.name for b in backup.list_backups()] == [earlier.name]
    json.dumps(report.as_dict())


@pytest.mark.postgres
def test_restore_fails_midway__database_left_as_it_was(
    backup_dir, shop_data, tmp_path, monkeypatch
):
    from shop.models import Category

    from tests.backup.conftest import table_checksums

    result = backup.create()
    Category.objects.create(name="after the backup", slug="after")
    before = table_checksums()
    cut = int(result.manifest["dump"]["raw_bytes"] * 0.8)
    body = (
        f'case "$1" in --version) exec {real("pg_restore")} --version;; esac\n'
        f'head -c {cut} | {real("pg_restore")} "$@"\n'
    )
    bindir = wrapper_dir(tmp_path, "pg_restore", body)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 2
    finding = report.findings[0]
    assert finding.id == "backup.restore.failed" and "left as it was" in finding.title
    assert table_checksums() == before


@pytest.mark.postgres
def test_database_unreachable__create_exits_2_with_the_cause(backup_dir, transactional_db):
    from django.db import connections

    alias = connections["default"]
    port = alias.settings_dict["PORT"]
    alias.settings_dict["PORT"] = "1"
    alias.close()
    try:
        out, err, code = run_command("backup", "create")
    finally:
        alias.settings_dict["PORT"] = port
        alias.close()
    assert code == 2, out + err
    assert "backup.connect.refused" in out and "Traceback" not in err
    assert backup.list_backups() == []


def test_archive_read_fails_mid_restore__database_left_as_it_was(
    backup_dir, shop_data, monkeypatch
):
    import importlib

    from shop.models import Category

    # the package exports the function restore(); the module is reached by its full name
    restore_module = importlib.import_module("railops_django.backup.restore")
    from railops_django.db.backup_engine import EngineError
    from tests.backup.conftest import table_checksums

    result = backup.create()
    Category.objects.create(name="after the backup", slug="after")
    before = table_checksums()
    real_stream = restore_module.stream

    def failing_stream(place, found, label="read", spool=None):
        sent = 0
        for chunk in real_stream(place, found, label, spool):
            yield chunk
            sent += len(chunk)
            if sent > found.manifest["dump"]["raw_bytes"] // 2:
                raise EngineError("storage went away mid-read")

    monkeypatch.setattr(restore_module, "stream", failing_stream)
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 2
    assert report.findings[0].id == "backup.restore.failed"
    assert "storage went away" in report.findings[0].detail
    assert table_checksums() == before


@pytest.mark.postgres
def test_verify_restore_test__role_may_not_create_databases__exit_3_one_line(backup_dir, shop_data):
    """Managed PostgreSQL often gives the app a role without CREATEDB."""
    created = backup.create()
    role = f"railops_nocreatedb_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE \"{role}\" LOGIN NOCREATEDB PASSWORD '{CANARY}'")
    sd = connection.settings_dict
    url = (
        f"postgres://{role}:{CANARY}@{sd['HOST'] or '127.0.0.1'}:{sd['PORT'] or 5432}/{sd['NAME']}"
    )
    try:
        done = run_manage(
            "backup",
            "verify",
            created.name,
            "--restore-test",
            "--format",
            "json",
            env={"DATABASE_URL": url, "RAILOPS_BACKUP_DIR": str(backup_dir)},
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP ROLE "{role}"')

    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "CREATEDB" in done.stderr and "without --restore-test" in done.stderr
    assert json.loads(done.stdout)["exit_code"] == 3
    assert CANARY not in done.stdout + done.stderr


@pytest.mark.postgres
def test_restore__a_session_holds_a_table__gives_up_after_the_lock_timeout_unchanged(
    backup_dir, shop_data, monkeypatch
):
    # pg_restore --clean must lock every table; an app session idle in a transaction that
    # read one held it for as long as it liked, and the restore waited silently, for ever.
    import psycopg
    from shop.models import Category

    from railops_django.db.locks import pg_conninfo
    from railops_django.db.postgres import backup as pg_dump
    from tests.backup.conftest import table_checksums

    result = backup.create()
    Category.objects.create(name="after the backup", slug="after")
    before = table_checksums()
    monkeypatch.setattr(pg_dump, "RESTORE_LOCK_TIMEOUT_MS", 1500)
    params = pg_conninfo("default")
    params.pop("conninfo", None)
    with psycopg.connect(**params) as app:  # BEGIN; SELECT ...: and then idle, holding it
        app.execute("SELECT count(*) FROM shop_category").fetchone()
        started = time.monotonic()
        report = backup.restore(result.name, safety_backup=False)
        waited = time.monotonic() - started
    assert report.exit_code == 2
    finding = report.findings[0]
    assert finding.id == "backup.restore.failed" and "left as it was" in finding.title
    assert "lock" in finding.detail and "another session" in finding.detail, finding.detail
    assert waited < 30
    assert table_checksums() == before


def _can_mount_a_tmpfs(where: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {where}"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def three_random_megabytes(request, tmp_path):
    """DATABASE_URL of a database holding 3 MB that no compression makes smaller."""
    blobs = [(os.urandom(1 << 20),) for _ in range(3)]
    if request.param == "sqlite":
        db = tmp_path / "app.sqlite3"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE blobs (data BLOB)")
            conn.executemany("INSERT INTO blobs VALUES (?)", blobs)
        yield f"sqlite:///{db}"
        return
    import psycopg

    from railops_django.db.locks import pg_conninfo

    params = pg_conninfo("default")
    params.pop("conninfo", None)
    name = f"railops_full_disk_{os.getpid()}"
    with psycopg.connect(autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(**{**params, "dbname": name}) as conn:
        conn.execute("CREATE TABLE blobs (data bytea)")
        conn.cursor().executemany("INSERT INTO blobs VALUES (%s)", blobs)
    user, host = params.get("user") or "postgres", params.get("host") or "127.0.0.1"
    yield f"postgres://{user}@{host}:{params.get('port') or 5432}/{name}"
    with psycopg.connect(autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backup_create__disk_full__one_line_asks_for_room_not_rights_and_leaves_nothing(
    tmp_path, three_random_megabytes
):
    """A real full disk: a 1 MB tmpfs under BACKUP_DIR, in a mount namespace of its own."""
    full = tmp_path / "full"
    full.mkdir()
    if not _can_mount_a_tmpfs(full):
        pytest.skip("needs root and unshare to mount a small tmpfs")
    manage = f"{sys.executable} {EXAMPLE / 'manage.py'}"
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {full} && cd {EXAMPLE} && "
        f"{manage} migrate --noinput -v0 && {manage} backup create --format json > {tmp_path}/out;"
        f" echo $? > {tmp_path}/rc; ls -A {full} > {tmp_path}/left"
    )
    env = {
        **os.environ,
        "DATABASE_URL": three_random_megabytes,
        "RAILOPS_BACKUP_DIR": str(full),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert (tmp_path / "rc").read_text().strip() == "2", proc.stdout + proc.stderr
    (finding,) = json.loads((tmp_path / "out").read_text())["findings"]
    detail = finding["detail"]
    assert "full" in detail or "No space left on device" in detail, detail
    assert "(a disk of 1.0 MB)" in detail and "storage with room" in detail, detail
    assert "backup cleanup" in detail
    assert "Make it writable" not in detail, "a full disk is not a permissions problem"
    assert "Traceback" not in proc.stderr, proc.stderr
    # the create's lock file (empty, 0600) stays; nothing of the failed backup does
    assert (tmp_path / "left").read_text().split() in ([], [".railops-backup.lock"])
