"""Offsite means off this machine (issue 15, point 6): one judgement, used by ``backup report``,
``railway_deploy --require-offsite-backup`` and the deploy's advice, with one fix text."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from django.core.files.storage import FileSystemStorage, InMemoryStorage

from railops_django import backup
from railops_django.backup import storage
from railops_django.backup.storage import Place, is_offsite
from tests.backup.test_storages import BUCKET, s3_endpoint  # noqa: F401 (a fixture)
from tests.utils import run_command


def _s3(endpoint: str) -> dict[str, object]:
    """STORAGES entry for the moto bucket, emptied first (moto's state outlives a server)."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BUCKET,
            "endpoint_url": endpoint,
            "access_key": "testing",
            "secret_key": "testing",
            "region_name": "us-east-1",
            "file_overwrite": True,
        },
    }


def test_is_offsite__by_class_and_location(tmp_path, monkeypatch):
    assert not is_offsite(Place("local", FileSystemStorage(location=str(tmp_path / "a"))))
    assert not is_offsite(Place("mem", InMemoryStorage()))
    from storages.backends.s3 import S3Storage

    assert is_offsite(Place("s3", S3Storage(bucket_name="b", access_key="x", secret_key="y")))
    # a FileSystemStorage counts as offsite only on a network filesystem
    share = tmp_path / "share"
    share.mkdir()
    mounts = tmp_path / "mounts"
    real = Path("/proc/mounts").read_text()
    mounts.write_text(real + f"server:/export {share.resolve()} nfs4 rw 0 0\n")
    monkeypatch.setattr(storage, "MOUNTS", mounts)
    assert is_offsite(Place("nfs", FileSystemStorage(location=str(share / "backups"))))
    assert not is_offsite(Place("local", FileSystemStorage(location=str(tmp_path / "a"))))


def test_mount_type__real_proc_mounts_names_the_root_filesystem():
    assert storage._mount_type(Path("/")) not in ("", *storage.NETWORK_FILESYSTEMS)


@pytest.mark.parametrize("storages", [["local"], ["local", "same_disk"], ["same_disk"]])
@pytest.mark.django_db(transaction=True)
def test_require_offsite__only_this_machine__deploy_refuses_and_report_agrees(
    backup_dir, settings, tmp_path, storages
):
    settings.STORAGES = {
        **settings.STORAGES,
        "same_disk": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "same-disk")},
        },
    }
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_STORAGES": storages}
    out, err, code = run_command("railway_deploy", "--require-offsite-backup", "--format", "json")
    assert code == 2, out + err
    deploy = {f["id"]: f for f in json.loads(out)["findings"]}
    assert "deploy.backup.local_only" in deploy
    assert not list(backup_dir.glob("*.json"))
    backup.create()
    out, _err, _code = run_command("backup", "report", "--format", "json")
    report = {f["id"]: f for f in json.loads(out)["findings"]}
    assert "0 off this machine" in report["backup.report.3_2_1"]["title"]
    # one judgement, one fix: the same words in both
    assert deploy["deploy.backup.local_only"]["fix"] == report["backup.report.3_2_1"]["fix"]
    assert "'BACKUP_STORAGES': ['local', 'offsite']" in report["backup.report.3_2_1"]["fix"]


@pytest.mark.django_db(transaction=True)
def test_require_offsite__with_s3__deploy_passes_the_check_and_report_agrees(
    backup_dir,
    settings,
    s3_endpoint,  # noqa: F811
):
    settings.STORAGES = {**settings.STORAGES, "offsite": _s3(s3_endpoint)}
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_STORAGES": ["local", "offsite"]}
    out, err, code = run_command(
        "railway_deploy", "--require-offsite-backup", "--dry-run", "--format", "json"
    )
    assert code == 0, out + err
    ids = {f["id"] for f in json.loads(out)["findings"]}
    assert "deploy.backup.local_only" not in ids
    backup.create()
    out, _err, _code = run_command("backup", "report", "--format", "json")
    data = json.loads(out)
    report = {f["id"]: f for f in data["findings"]}
    assert report["backup.report.3_2_1"]["severity"] == "ok"
    assert [s["off_machine"] for s in data["storages"]] == [False, True]
