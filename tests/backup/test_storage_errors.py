"""A storage that answers an error (an S3 outage, a revoked key, an unmounted share) is one
warning naming it; the other storages work as usual."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import FileSystemStorage, Storage

from railops_django import backup
from railops_django.backup import storage
from tests.utils import run_command

SECRET = "s3cr3t-Pw-9d1c"


class AccessDenied(Exception):
    """Stands for botocore's ClientError: not an OSError."""


class Unreachable(Storage):
    """A remote storage that answers every call with an error, as django-storages passes on
    botocore's ClientError (or an OSError, for a share that went away)."""

    error: type[Exception] = AccessDenied
    calls: list[str] = []

    def _fail(self, *args: object, **kwargs: object) -> None:
        self.calls.append(str(args[0]) if args else "")
        raise self.error(f"An error occurred (AccessDenied) at https://key:{SECRET}@s3.example")

    _open = _save = exists = listdir = size = get_modified_time = url = _fail

    def delete(self, name: str) -> None:
        self.calls.append(f"delete {name}")
        self._fail(name)


class UnreachableOSError(Unreachable):
    error = ConnectionRefusedError


def _storages(settings, tmp_path, *, down: type[Unreachable] | None) -> None:
    offsite: dict[str, object] = (
        {"BACKEND": f"{__name__}.{down.__name__}"}
        if down is not None
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "offsite")},
        }
    )
    settings.STORAGES = {**settings.STORAGES, "offsite": offsite}
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_STORAGES": ["local", "offsite"]}


@pytest.fixture(params=[Unreachable, UnreachableOSError], ids=["client_error", "oserror"])
def offsite_down(request, backup_dir, shop_data, settings, tmp_path):
    """Two backups in local and offsite, then offsite stops answering."""
    _storages(settings, tmp_path, down=None)
    names = [backup.create().name, backup.create().name]
    _storages(settings, tmp_path, down=request.param)
    return names


def _unreachable(out: str) -> dict[str, object]:
    findings = [f for f in json.loads(out)["findings"] if f["id"] == "backup.storage_unreachable"]
    assert len(findings) == 1, out
    (finding,) = findings
    assert finding["severity"] == "warning"
    assert "offsite" in finding["title"]
    assert "AccessDenied" in finding["detail"] and SECRET not in out
    return finding


def test_backup_list__offsite_storage_answers_an_error__lists_local_backups_with_one_warning(
    offsite_down,
):
    out, err, code = run_command("backup", "list", "--format", "json")
    assert code == 1, out + err
    assert "Traceback" not in err
    _unreachable(out)
    listed = {b["name"] for b in json.loads(out)["backups"]}
    assert listed == set(offsite_down)


def test_backup_report__offsite_storage_answers_an_error__counts_local_backups_and_warns(
    offsite_down,
):
    out, err, code = run_command("backup", "report", "--format", "json")
    assert "Traceback" not in err and code in (1, 2), out + err
    _unreachable(out)
    ids = {f["id"] for f in json.loads(out)["findings"]}
    assert "backup.report.none" not in ids


def test_emergency_rollback_assess__offsite_storage_answers_an_error__lists_local_backups(
    offsite_down,
):
    out, err, _code = run_command("emergency_rollback", "assess", "--format", "json")
    assert "Traceback" not in err and "internal error" not in err, err
    _unreachable(out)
    assert {b["name"] for b in json.loads(out)["backups"]} == set(offsite_down)


def test_backup_cleanup__offsite_storage_answers_an_error__leaves_it_alone_and_warns(
    offsite_down, backup_dir
):
    Unreachable.calls.clear()
    out, err, code = run_command("backup", "cleanup", "--noinput", "--format", "json")
    assert code == 0, out + err
    _unreachable(out)
    assert not [c for c in Unreachable.calls if c.startswith("delete")]
    # local: exactly what retention decides, as with every storage up
    kept = {r["name"] for r in json.loads(out)["retention_plan"] if r["keep"]}
    assert offsite_down[-1] in kept
    assert {b.name for b in backup.list_backups()} == kept
    backups = {p.name.split(".")[0] for p in backup_dir.iterdir() if not p.name.startswith(".")}
    assert backups == kept


def test_backup_restore__offsite_storage_answers_an_error__local_copy_restores_without_safety(
    offsite_down,
):
    report = backup.restore(offsite_down[-1], safety_backup=False)
    assert report.exit_code == 0, report.findings
    ids = [f.id for f in report.findings]
    assert ids.count("backup.storage_unreachable") == 1 and "backup.restore.done" in ids
    assert report.extras["restore"]["from_storage"] == "local"


def test_backup_restore__offsite_storage_answers_an_error__one_line_exit_3_says_how(
    offsite_down,
):
    out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--format", "json")
    assert code == 3, out + err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "offsite" in err and "nothing was changed" in err and "BACKUP_STORAGES" in err
    assert SECRET not in err + out
    assert json.loads(out)["exit_code"] == 3


def test_backup_create__offsite_storage_answers_an_error__fails_cleanly_naming_it(
    offsite_down, backup_dir
):
    out, err, code = run_command("backup", "create", "--format", "json")
    assert code == 2, out + err
    assert "Traceback" not in err
    failed = [f for f in json.loads(out)["findings"] if f["id"] == "backup.failed"]
    # found when listing, before anything is dumped: not after a whole dump, at the upload
    assert failed and "cannot list storage offsite" in failed[0]["detail"], out
    assert SECRET not in out
    assert {b.name for b in backup.list_backups()} == set(offsite_down)
    assert not [p for p in backup_dir.iterdir() if p.name.endswith((".claim", ".tmp"))]


def test_storage_files__oserror_listing__is_a_storage_error_not_an_empty_storage(tmp_path):
    place = storage.Place("offsite", UnreachableOSError())
    with pytest.raises(storage.StorageError, match="cannot list storage offsite"):
        storage.files(place)
    # a local directory not made yet is an empty storage, not an unreachable one
    missing = FileSystemStorage(location=str(tmp_path / "not-made-yet"))
    assert storage.files(storage.Place("local", missing)) == []
