"""A full BACKUP_DIR while claiming a name is a clean failure, and a claim never outlives the
run that failed to take it."""

from __future__ import annotations

import errno
import json
import os

from railops_django import backup
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
