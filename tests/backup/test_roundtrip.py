"""Round trips on the real database of this run (SQLite by default, PostgreSQL in the PG run)."""

from __future__ import annotations

import json
import re
import stat

import pytest
from django.db import connection
from shop.models import Category, Product

from railops_django import backup
from railops_django.backup import catalog, list_backups
from tests.backup.conftest import drop_all_tables, table_checksums
from tests.utils import run_command, run_manage


def _flip_middle_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_create_drop_restore__every_table_row_count_and_checksum_match(backup_dir, shop_data):
    before = table_checksums()
    assert before["shop_product"][0] == 600
    out, err, code = run_command("backup", "create", "--format", "json")
    assert code == 0, err
    created = json.loads(out)["backup"]
    drop_all_tables()
    assert table_checksums() == {}
    out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--format", "json")
    assert code == 0, out + err
    assert json.loads(out)["restore"]["backup"] == created["name"]
    assert table_checksums() == before


def test_create__files_private_and_manifest_complete(backup_dir, shop_data):
    result = backup.create("default", "manual")
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    # hidden: the backup lock (SQLite) and nothing else of this backup
    files = sorted(p.name for p in backup_dir.iterdir() if not p.name.startswith("."))
    assert files == [f"{result.name}.json", result.manifest["dump"]["file"]]
    assert not list(backup_dir.glob(".*.claim"))
    for path in backup_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    manifest = json.loads((backup_dir / f"{result.name}.json").read_text())
    assert manifest["name"].startswith("default-") and manifest["name"].endswith("-manual")
    assert manifest["tables"]["shop_product"] == {"rows": 600, "exact": True}
    assert "0001_initial" in manifest["migrations"]["shop"]
    assert manifest["dump"]["bytes"] == (backup_dir / manifest["dump"]["file"]).stat().st_size
    assert manifest["vendor"] == connection.vendor
    assert manifest["django_version"] and manifest["server_version"]
    assert [b.name for b in backup.list_backups("default")] == [result.name]


def test_create__same_second__names_are_unique(backup_dir, shop_data, monkeypatch):
    first = backup.create("default", "manual")
    second = backup.create("default", "manual")
    third = backup.create("default", "manual")
    assert len({first.name, second.name, third.name}) == 3
    assert next(b.name for b in backup.list_backups()) == third.name


def test_verify_restore_test__fresh_backup__passes_and_is_recorded(backup_dir, shop_data):
    result = backup.create()
    out, err, code = run_command("backup", "verify", "--latest", "--restore-test")
    assert code == 0, out + err
    manifest = json.loads((backup_dir / f"{result.name}.json").read_text())
    verification = manifest["verification"]
    assert verification["ok"] is True
    assert verification["copies"] == {"local": "ok"}
    assert verification["restore_test"]["ok"] is True
    assert verification["restore_test"]["seconds"] >= 0
    assert verification["decompressed_bytes"] == manifest["dump"]["raw_bytes"]
    assert backup.list_backups()[0].verified


def test_flipped_byte__verify_exits_2_and_restore_refuses_changing_nothing(backup_dir, shop_data):
    result = backup.create()
    _flip_middle_byte(backup_dir / result.manifest["dump"]["file"])
    Category.objects.create(name="after the backup", slug="after")
    before = table_checksums()
    out, err, code = run_command("backup", "verify", "--all")
    assert code == 2, out + err
    assert "backup.verify.checksum" in out
    out, err, code = run_command("backup", "restore", result.name, "--noinput", "--force")
    assert code == 2
    assert "backup.restore.checksum" in out and "nothing was changed" in out
    assert table_checksums() == before
    # the failed verification is recorded: the backup no longer counts as good
    assert backup.list_backups() == []


def test_restore__migration_state_differs__refuses_unless_force(backup_dir, shop_data):
    result = backup.create()
    found = catalog.find(result.name)
    found.manifest["migrations"]["shop"].append("9999_from_the_future")
    catalog.save_manifest(found)
    Category.objects.create(name="after the backup", slug="after")
    before = table_checksums()
    report = backup.restore(result.name)
    assert report.exit_code == 2
    finding = report.findings[0]
    assert finding.id == "backup.restore.migrations_differ"
    assert "shop.9999_from_the_future" in finding.detail
    assert table_checksums() == before
    report = backup.restore(result.name, force=True)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    assert not Category.objects.filter(slug="after").exists()
    assert report.extras["restore"]["safety_backup"].endswith("-emergency")


def test_restore__confirmation_declined__nothing_changes(backup_dir, shop_data, monkeypatch):
    backup.create()
    Category.objects.create(name="after the backup", slug="after")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)  # a terminal that answers "no"
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    _out, err, code = run_command("backup", "restore", "--latest")
    assert code == 3 and "cancelled" in err
    assert Category.objects.filter(slug="after").exists()


def test_schema_only__restores_tables_without_rows(backup_dir, shop_data):
    full = backup.create()
    result = backup.create(schema_only=True)
    assert result.manifest["schema_only"] is True
    report = backup.restore(result.name, safety_backup=False, force=True)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    assert Category.objects.count() == 0
    # put django_migrations back for the tests that follow
    assert backup.restore(full.name, safety_backup=False, force=True).exit_code == 0
    assert Category.objects.count() == 3


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["verify"], "needs NAME"),
        (["restore"], "needs NAME"),
        (["restore", "no-such-backup", "--noinput"], "no backup named"),
        (["list", "extra"], "takes no NAME"),
        (["create", "--tier", "hourly"], "unknown backup tier"),
    ],
)
def test_bad_input__exits_3_with_one_line(backup_dir, db, args, needle):
    _out, err, code = run_command("backup", *args)
    assert code == 3
    assert needle in err and len(err.strip().splitlines()) == 1


def test_progress__tty_redraws_json_shows_none_a_pipe_gets_plain_lines(backup_dir, shop_data):
    _out, err, code = run_command("backup", "create", tty=True)
    assert code == 0 and re.search(r"\d (B|KiB|MiB|GiB)/s", err) and "\rdumped" in err
    _out, err, code = run_command("backup", "create", "--format", "json", tty=True)
    assert code == 0 and err == ""
    _out, err, code = run_command("backup", "create")  # Railway's logs: plain lines, no \r
    assert code == 0 and "\r" not in err
    assert err.strip().startswith("dumped ") and err.strip().endswith("(done)")


def test_restore_test__manifest_counts_disagree__verify_exits_2_naming_the_table(
    backup_dir, shop_data
):
    result = backup.create()
    found = catalog.find(result.name)
    found.manifest["tables"]["shop_product"] = {"rows": 601, "exact": True}
    catalog.save_manifest(found)
    out, err, code = run_command("backup", "verify", result.name, "--restore-test")
    assert code == 2, out + err
    assert "backup.verify.row_counts" in out and "shop_product: 601 -> 600" in out


def test_list__shows_every_backup_newest_first_with_its_verification(backup_dir, shop_data):
    first = backup.create()
    second = backup.create("default", "predeploy")
    backup.verify(first.name)
    out, err, code = run_command("backup", "list", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["backups"]
    assert [r["name"] for r in rows] == [second.name, first.name]
    assert [r["verified"] for r in rows] == ["no", "yes"]
    assert rows[0]["tier"] == "predeploy" and rows[0]["copies"] == "local"


def test_engine__native_requested__round_trip_exact_and_says_why(backup_dir, shop_data, settings):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "native"}
    before = table_checksums()
    out, err, code = run_command("backup", "create", "--format", "json")
    assert code == 0, err
    (backup,) = list_backups()
    if connection.vendor == "postgresql":
        assert backup.manifest["engine"] == "native"
        assert backup.manifest["engine_reason"] == "RAILOPS BACKUP_ENGINE is 'native'"
        assert "engine_info" in backup.manifest
        engine = next(f for f in json.loads(out)["findings"] if f["id"] == "backup.engine")
        assert engine["title"] == "engine: native"
    else:  # SQLite always uses its online backup API
        assert backup.manifest["engine"] == "sqlite"
    # In a fresh process, as a user runs it: the restore test opens a temporary alias for its
    # scratch database, which the test case's database isolation would refuse in-process.
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        if connection.vendor == "postgresql"
        else f"sqlite:///{db['NAME']}"
    )
    proc = run_manage(
        "backup",
        "verify",
        "--latest",
        "--restore-test",
        "--format",
        "json",
        env={
            "DATABASE_URL": url,
            "RAILOPS_BACKUP_DIR": str(backup_dir),
            "RAILOPS_BACKUP_ENGINE": "native",
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "restore test passed" in proc.stdout
    drop_all_tables()
    _out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--force")
    assert code == 0, err
    assert table_checksums() == before


@pytest.mark.sqlite
def test_sqlite_online_backup__app_keeps_writing__every_backup_is_consistent(backup_dir, shop_data):
    import sqlite3
    import threading

    path = connection.settings_dict["NAME"]
    stop = threading.Event()

    def writer() -> None:
        db = sqlite3.connect(path, timeout=30)
        n = 0
        while not stop.is_set():
            db.execute("INSERT INTO shop_category (name, slug) VALUES (?, ?)", (f"w{n}", f"w-{n}"))
            db.commit()
            n += 1
            stop.wait(0.002)
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        names = [backup.create().name for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    counts = [catalog.find(n).manifest["tables"]["shop_category"]["rows"] for n in names]
    assert counts == sorted(counts) and counts[-1] > 3  # the writer was running
    for name in names:
        assert backup.verify(name, restore_test=True).exit_code == 0


def test_dry_run__create_and_restore_say_would_and_change_nothing(backup_dir, shop_data):
    out, err, code = run_command("backup", "create", "--dry-run")
    assert code == 0, err
    assert "Would back up 'default' (manual)" in out
    assert list(backup_dir.glob("*.json")) == []
    result = backup.create()
    Category.objects.create(name="after the backup", slug="after")
    out, err, code = run_command("backup", "restore", "--latest", "--dry-run")
    assert code == 0, err
    assert f"Would restore {result.name} into 'default'" in out
    assert Category.objects.filter(slug="after").exists()
    assert len(backup.list_backups()) == 1  # no safety backup either


def test_restore_latest_twice__second_run_restores_the_same_backup_not_the_safety_copy(
    backup_dir, shop_data
):
    out, err, code = run_command("backup", "create", "--format", "json")
    good = json.loads(out)["backup"]["name"]
    Product.objects.update(name="BROKEN")
    picked = []
    for _ in range(2):
        out, err, code = run_command(
            "backup", "restore", "--latest", "--noinput", "--format", "json"
        )
        assert code == 0, out + err
        result = json.loads(out)
        picked.append(result["restore"]["backup"])
        assert not Product.objects.filter(name="BROKEN").exists()
    assert picked == [good, good]
    safety = json.loads(out)["restore"]["safety_backup"]
    assert catalog.find(safety).safety_for == f"restore of {good}"
    # by name, a safety copy restores like any backup
    out, err, code = run_command("backup", "restore", safety, "--noinput")
    assert code == 0, out + err


def test_restore_latest__only_safety_copies__refused_naming_the_newest(backup_dir, shop_data):
    made = backup.create("default", "emergency", safety_for="restore of another").name
    out, err, code = run_command("backup", "restore", "--latest", "--noinput")
    assert code == 3 and len(err.strip().splitlines()) == 1, out + err
    assert made in err and "safety copy" in err and "by name" in err
