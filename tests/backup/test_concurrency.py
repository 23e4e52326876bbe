"""Concurrent creates as real processes: every one that says "written" left its own backup.

Issue 15, point 2: two ``backup create`` started together got one name and one overwrote the
other; so did two ``create --if-due`` and ``daemon --once`` next to ``create --if-due``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from railops_django import backup
from railops_django.backup import catalog, claims
from tests.utils import EXAMPLE, ROOT, run_command


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER'] or 'postgres'}@{host}:{port}/{db['NAME']}"


def manage_env(backup_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "RAILOPS_BACKUP_DIR": str(backup_dir),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLE)]),
        **extra,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def start(backup_dir: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE / "manage.py"), *args, "--settings", "tests.settings"],
        env=manage_env(backup_dir, **extra),
        cwd=EXAMPLE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_together(
    backup_dir: Path, commands: list[list[str]], **extra: str
) -> list[tuple[int, str, str]]:
    procs = [start(backup_dir, *args, **extra) for args in commands]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        results.append((proc.returncode, out, err))
    return results


def written_names(results: list[tuple[int, str, str]]) -> list[str]:
    names = []
    for code, out, err in results:
        assert code in (0, 3), out + err  # done, or a clean refusal
        assert "Traceback" not in err
        if code == 3:
            assert len(err.strip().splitlines()) == 1, err
            continue
        data = json.loads(out)
        if "backup" in data:
            names.append(data["backup"]["name"])
        else:
            names.extend(f["data"]["name"] for f in data["findings"] if f["id"] == "backup.created")
    return names


def assert_distinct_and_verified(backup_dir: Path, names: list[str]) -> None:
    assert len(set(names)) == len(names), names
    assert sorted(b.name for b in backup.list_backups()) == sorted(names)
    for name in names:
        found = catalog.find(name)
        report = backup.verify(name)
        assert report.exit_code == 0, [f.title for f in report.findings]
        assert found.manifest["name"] == name
    assert not list(backup_dir.glob(".*.claim")), "a claim outlived its create"


@pytest.mark.parametrize("count", [2, 3, 5])
def test_concurrent_creates__as_many_distinct_verified_backups(backup_dir, shop_data, count):
    results = run_together(backup_dir, [["backup", "create", "--format", "json"]] * count)
    names = written_names(results)
    assert len(names) == count  # they waited for each other's lock: none was refused
    assert_distinct_and_verified(backup_dir, names)


def test_concurrent_if_due__one_backup_the_others_see_it(backup_dir, shop_data):
    results = run_together(backup_dir, [["backup", "create", "--if-due", "--format", "json"]] * 3)
    names = written_names(results)
    assert len(names) == 1, results
    reports = [json.loads(out) for code, out, _ in results if code == 0]
    skipped = [data for data in reports if "backup" not in data]
    assert len(skipped) == 2
    for data in skipped:
        assert any(f["id"] == "backup.not_due" for f in data["findings"])
        assert names[0] in json.dumps(data)  # "... already covers this period"
    assert_distinct_and_verified(backup_dir, names)


def test_daemon_once_next_to_if_due__no_overwrite(backup_dir, shop_data):
    results = run_together(
        backup_dir,
        [
            ["backup", "daemon", "--once", "--format", "json"],
            ["backup", "create", "--if-due", "--format", "json"],
        ],
        # the daemon's cleanup would rightly retire the older of two backups of one month:
        # keep every good one, so what is checked is that neither create overwrote the other
        RAILOPS_BACKUP_MIN_GOOD="10",
    )
    names = written_names(results)
    assert 1 <= len(names) <= 2, results
    assert len(set(names)) == len(names), names
    # When the if-due create ran first, the daemon's cleanup (retention: the newest of the
    # period, BACKUP_MIN_GOOD 1) removes it after its own create: what is left is one of ours.
    left = [b.name for b in backup.list_backups()]
    assert left and set(left) <= set(names), (left, names)
    assert_distinct_and_verified(backup_dir, left)


def test_backup_lock_held_elsewhere__create_refuses_cleanly_daemon_skips(
    backup_dir, shop_data, monkeypatch
):
    holder = start(
        backup_dir,
        "shell",
        "--no-imports",
        "-c",
        "import sys, time\n"
        "from railops_django.backup import claims\n"
        "with claims.backup_lock('default') as held:\n"
        "    print('held' if held else 'not held', flush=True)\n"
        "    sys.stdin.read()\n",
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(claims, "WAIT_S", 1.0)
        started = time.monotonic()
        _out, err, code = run_command("backup", "create")
        assert code == 3
        assert "held the backup lock" in err and "run this again" in err
        assert time.monotonic() - started < 30
        out, err, code = run_command("backup", "daemon", "--once")
        assert code == 0, out + err
        assert "another replica holds the backup lock" in out
        assert backup.list_backups() == []
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    assert backup.create().name  # released with its holder


def test_claim__a_name_claimed_elsewhere_is_skipped_and_a_stale_claim_is_cleaned(
    backup_dir, shop_data
):
    from datetime import UTC, datetime

    from railops_django.backup import archive, retention, storage

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    places = storage.configured()
    base = f"default-{when.strftime(archive.STAMP)}-manual"
    backup_dir.mkdir(parents=True, exist_ok=True)
    stale = backup_dir / claims.claim_file(base)
    stale.write_text("12345 killed")  # a create that was killed after claiming
    held = claims.claim("default", when, "manual", places, archive.STAMP)
    try:
        assert held.name == f"{base}-2"
        assert (backup_dir / claims.claim_file(held.name)).stat().st_mode & 0o777 == 0o600
        again = claims.claim("default", when, "manual", places, archive.STAMP)
        assert again.name == f"{base}-3"
        again.release()
    finally:
        held.release()
    assert not (backup_dir / claims.claim_file(f"{base}-2")).exists()
    retention.cleanup()
    assert stale.exists()  # young: it may belong to a running create
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    report = retention.cleanup()
    assert not stale.exists()
    assert any(f.id == "backup.cleanup.leftover" for f in report.findings)
