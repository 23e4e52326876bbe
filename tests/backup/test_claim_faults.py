"""A full BACKUP_DIR while claiming a name is a clean failure, and a claim never outlives the
run that failed to take it."""

from __future__ import annotations

import errno
import json
import os

import pytest
from django.core.files.storage import Storage

from railops_django import backup
from railops_django.backup import claims, storage
from tests.utils import run_command


class AccessDenied(Exception):
    """Stands for botocore's ClientError."""


def _enospc_on_claims(monkeypatch) -> None:
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".claim"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_backup_create__backup_dir_full_while_claiming__exits_2_and_leaves_no_claim(
    backup_dir, shop_data, monkeypatch
):
    _enospc_on_claims(monkeypatch)
    out, err, code = run_command("backup", "create", "--format", "json")
    assert code == 2, out + err
    assert "Traceback" not in err and "internal error" not in err
    failed = [f for f in json.loads(out)["findings"] if f["id"] == "backup.failed"]
    assert failed and "No space left on device" in failed[0]["detail"], out
    assert not [p for p in backup_dir.iterdir() if p.name.endswith(".claim")]
    assert backup.list_backups() == []


def test_emergency_rollback_backup__backup_dir_full_while_claiming__exits_2_cleanly(
    backup_dir, shop_data, monkeypatch
):
    _enospc_on_claims(monkeypatch)
    out, err, code = run_command("emergency_rollback", "backup", "--format", "json")
    assert code == 2, out + err
    assert "Traceback" not in err and "internal error" not in err
    assert "No space left on device" in out
    assert not [p for p in backup_dir.iterdir() if p.name.endswith(".claim")]


def test_claim__remote_storage_fails_after_writing_the_claim__removes_it(
    backup_dir, settings, tmp_path
):
    from datetime import UTC, datetime

    from railops_django.backup import archive

    class ReadBackFails(Storage):
        """A bucket that takes the claim, then denies reading it back."""

        objects: dict[str, bytes] = {}

        def _save(self, name, content):
            self.objects[name] = content.read()
            return name

        def _open(self, name, mode="rb"):
            raise AccessDenied("read back denied")

        def exists(self, name):
            return name in self.objects

        def delete(self, name):
            self.objects.pop(name, None)

        def listdir(self, path):
            return [], [k.rsplit("/", 1)[-1] for k in self.objects]

    place = storage.Place("offsite", ReadBackFails(), storage.PREFIX)
    assert not place.on_this_machine
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(storage.StorageError):
        claims.claim("default", when, "manual", [storage.local_place(), place], archive.STAMP)
    assert storage.files(place) == []
    assert not [p for p in backup_dir.iterdir() if p.name.endswith(".claim")]


def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _debris(backup_dir, sleeper_pid: int) -> dict[str, bool]:
    """Claims of a gone process (and its temp file) and ones that must stay; name -> goes."""
    import socket

    host = socket.gethostname()
    dead = _dead_pid()
    backup_dir.mkdir(parents=True, exist_ok=True)
    files = {
        # a create killed by SIGTERM on this host: its claim and its half-written dump
        ".default-20260101T000000Z-manual.claim": (f"{dead} 0123abcd {host}", True),
        f".default-20260101T000000Z-manual.pgdump.zst.{dead}.tmp": ("partial", True),
        # a running create on this host
        ".default-20260101T000001Z-manual.claim": (f"{sleeper_pid} 0123abcd {host}", False),
        f".default-20260101T000001Z-manual.pgdump.zst.{sleeper_pid}.tmp": ("running", False),
        # another machine's (its pid means nothing here), and an older version's (no host)
        ".default-20260101T000002Z-manual.claim": (f"{dead} 0123abcd other-host", False),
        ".default-20260101T000003Z-manual.claim": (f"{dead} 0123abcd", False),
    }
    for name, (body, _goes) in files.items():
        (backup_dir / name).write_text(body)
    return {name: goes for name, (_body, goes) in files.items()}


@pytest.fixture
def sleeper():
    import subprocess

    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_backup_create__claim_of_a_gone_process__swept_with_its_temp_file(
    backup_dir, shop_data, sleeper
):
    debris = _debris(backup_dir, sleeper)
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    for name, goes in debris.items():
        assert (backup_dir / name).exists() is not goes, name
    assert len(backup.list_backups()) == 1


def test_backup_cleanup__claim_of_a_gone_process__removed_at_once_and_said(
    backup_dir, shop_data, sleeper
):
    debris = _debris(backup_dir, sleeper)
    out, err, code = run_command("backup", "cleanup", "--dry-run", "--format", "json")
    assert code == 0, out + err
    assert all((backup_dir / name).exists() for name in debris)
    said = [f for f in json.loads(out)["findings"] if f["id"] == "backup.cleanup.dead_claims"]
    assert said and said[0]["title"].startswith("Would remove 2 ")
    out, err, code = run_command("backup", "cleanup", "--noinput", "--format", "json")
    assert code == 0, out + err
    for name, goes in debris.items():
        assert (backup_dir / name).exists() is not goes, name
    said = [f for f in json.loads(out)["findings"] if f["id"] == "backup.cleanup.dead_claims"]
    assert said and said[0]["title"].startswith("Removed 2 ")
