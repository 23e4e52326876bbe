"""Every backup lands in every storage: two FileSystemStorages and S3 (moto, on 127.0.0.1)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
from django.core.files.storage import FileSystemStorage
from moto.server import ThreadedMotoServer
from shop.models import Product
from storages.backends.s3 import S3Storage

from railops_django import backup
from railops_django.backup.verify import Spool
from tests.backup.conftest import table_checksums
from tests.utils import run_command

BUCKET = "railops-test-backups"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def three_storages(tmp_path, settings, s3_endpoint):
    settings.STORAGES = {
        **settings.STORAGES,
        "disk_a": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "a")},
        },
        "disk_b": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "b")},
        },
        "offsite": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "file_overwrite": True,
            },
        },
    }
    settings.RAILOPS = {
        "BACKUP_DIR": str(tmp_path / "local"),
        "BACKUP_STORAGES": ["disk_a", "disk_b", "offsite"],
    }
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return tmp_path / "a" / "railops-backups", tmp_path / "b" / "railops-backups", client


def test_create__two_disks_and_s3__every_copy_lands_and_verify_agrees(three_storages, shop_data):
    disk_a, disk_b, s3 = three_storages
    result = backup.create()
    files = {f"{result.name}.json", result.manifest["dump"]["file"]}
    assert {p.name for p in disk_a.iterdir()} == files
    assert {p.name for p in disk_b.iterdir()} == files
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"railops-backups/{f}" for f in files}
    listed = backup.list_backups()
    assert [b.name for b in listed] == [result.name]
    assert sorted(listed[0].places) == ["disk_a", "disk_b", "offsite"]
    out, err, code = run_command("backup", "verify", "--latest")
    assert code == 0, out + err
    verification = backup.list_backups()[0].verification
    assert verification["copies"] == {"disk_a": "ok", "disk_b": "ok", "offsite": "ok"}
    out, err, code = run_command("backup", "report")
    assert "3-2-1: copies in 2+ storages, one off this machine" in out


def test_one_damaged_copy__verify_names_it_and_restore_uses_a_good_copy(three_storages, shop_data):
    disk_a, _disk_b, _s3 = three_storages
    result = backup.create()
    dump = disk_a / result.manifest["dump"]["file"]
    data = bytearray(dump.read_bytes())
    data[len(data) // 3] ^= 0x01
    dump.write_bytes(bytes(data))
    out, _err, code = run_command("backup", "verify", result.name)
    assert code == 2
    assert "the copy in disk_a is damaged" in out
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    assert report.extras["restore"]["from_storage"] == "disk_b"
    # one good copy left: the backup still counts as good
    assert [b.name for b in backup.list_backups()] == [result.name]


def test_unknown_storage_alias__exits_3_naming_it(backup_dir, settings, db):
    settings.RAILOPS = {"BACKUP_DIR": str(backup_dir), "BACKUP_STORAGES": ["nope"]}
    _out, err, code = run_command("backup", "create")
    assert code == 3 and "'nope', which is not in settings.STORAGES" in err


def test_s3_only__create_verify_restore_work_without_a_local_copy(
    three_storages, shop_data, settings
):
    _disk_a, _disk_b, s3 = three_storages
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_STORAGES": ["offsite"]}
    result = backup.create()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert f"railops-backups/{result.manifest['dump']['file']}" in keys
    assert backup.verify(result.name, restore_test=True).exit_code == 0
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 0 and report.extras["restore"]["from_storage"] == "offsite"


class OpenCounting(FileSystemStorage):
    """A real FileSystemStorage that records the names it opens (class-wide: Django builds
    one instance per alias and settings change)."""

    opened: ClassVar[list[tuple[str, str]]] = []

    def _open(self, name, mode="rb"):
        OpenCounting.opened.append((str(self.location), name))
        return super()._open(name, mode)


def test_restore__good_first_copy__the_other_copies_are_not_read(tmp_path, settings, shop_data):
    """Hashing every copy before a restore read the whole archive once per storage: an S3
    copy was downloaded in full only to be hashed, while the local one was good."""
    settings.STORAGES = {
        **settings.STORAGES,
        **{
            alias: {
                "BACKEND": f"{__name__}.OpenCounting",
                "OPTIONS": {"location": str(tmp_path / alias)},
            }
            for alias in ("disk_a", "disk_b")
        },
    }
    settings.RAILOPS = {
        "BACKUP_DIR": str(tmp_path / "local"),
        "BACKUP_STORAGES": ["disk_a", "disk_b"],
    }
    result = backup.create()
    dump = result.manifest["dump"]["file"]
    OpenCounting.opened.clear()
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    assert report.extras["restore"]["from_storage"] == "disk_a"
    reads = [location for location, name in OpenCounting.opened if name.endswith(dump)]
    assert reads == [str(tmp_path / "disk_a")] * 2, reads  # the hash, then the load
    # verify still reads every copy: it says which one is damaged
    OpenCounting.opened.clear()
    out, err, code = run_command("backup", "verify", result.name)
    assert code == 0, out + err
    reads = {location for location, name in OpenCounting.opened if name.endswith(dump)}
    assert reads == {str(tmp_path / "disk_a"), str(tmp_path / "disk_b")}


def test_restore__offsite_listed_first__reads_the_copy_on_this_machine(
    three_storages, settings, shop_data
):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_STORAGES": ["offsite", "disk_a"]}
    result = backup.create()
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    assert report.extras["restore"]["from_storage"] == "disk_a"
    disk_a, _disk_b, _s3 = three_storages
    (disk_a / result.manifest["dump"]["file"]).unlink()  # gone here: the offsite copy serves
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    assert report.extras["restore"]["from_storage"] == "offsite"


class S3OpenCounting(S3Storage):
    """django-storages' S3Storage, recording each object it opens (a GET of the archive)."""

    opened: ClassVar[list[str]] = []

    def _open(self, name, mode="rb"):
        S3OpenCounting.opened.append(name)
        return super()._open(name, mode)


@pytest.fixture
def counted_s3_only(three_storages, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "offsite": {**settings.STORAGES["offsite"], "BACKEND": f"{__name__}.S3OpenCounting"},
    }
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_STORAGES": ["offsite"]}
    S3OpenCounting.opened.clear()
    return three_storages


def _scratch(settings) -> list[Path]:
    root = Path(settings.RAILOPS["BACKUP_DIR"]) / ".railops-scratch"
    return sorted(root.rglob("*")) if root.exists() else []


def test_restore__only_an_offsite_copy__downloaded_once_and_the_spool_removed(
    counted_s3_only, settings, shop_data
):
    """The copy a restore hashes is kept while it downloads, and loaded from there: one GET,
    and what is loaded is the very bytes that matched the sha256."""
    result = backup.create()
    before = table_checksums()
    Product.objects.all().delete()
    S3OpenCounting.opened.clear()
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    assert report.extras["restore"]["from_storage"] == "offsite"
    dump = result.manifest["dump"]["file"]
    assert [n for n in S3OpenCounting.opened if n.endswith(dump)] == [f"railops-backups/{dump}"]
    assert table_checksums() == before
    assert _scratch(settings) == [], "the kept download outlived the restore"


@pytest.mark.parametrize("aliases", [["offsite"], ["offsite", "local"]], ids=["s3", "s3+local"])
def test_verify_restore_test__offsite_copy__downloaded_once_every_copy_checked(
    counted_s3_only, settings, shop_data, aliases
):
    """verify hashed every copy, then read the chosen one again for the archive check and a
    third time for the restore test: three downloads of an offsite-only archive, now one (and
    with a local copy as well, the offsite one is only hashed)."""
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_STORAGES": aliases}
    result = backup.create()
    S3OpenCounting.opened.clear()
    out, err, code = run_command("backup", "verify", result.name, "--restore-test")
    assert code == 0, out + err
    dump = result.manifest["dump"]["file"]
    assert [n for n in S3OpenCounting.opened if n.endswith(dump)] == [f"railops-backups/{dump}"]
    copies = backup.list_backups()[0].verification["copies"]
    assert copies == dict.fromkeys(aliases, "ok")
    assert _scratch(settings) == []


def test_restore__no_room_to_keep_the_download__read_twice_and_still_restored(
    counted_s3_only, settings, shop_data, monkeypatch
):
    result = backup.create()
    before = table_checksums()
    Product.objects.all().delete()
    monkeypatch.setattr(Spool, "ROOM", 10**15)  # no disk has room for that
    S3OpenCounting.opened.clear()
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    dump = result.manifest["dump"]["file"]
    assert len([n for n in S3OpenCounting.opened if n.endswith(dump)]) == 2
    assert table_checksums() == before
    assert _scratch(settings) == []


def test_restore__offsite_copy_damaged__refused_and_nothing_kept(
    counted_s3_only, settings, shop_data
):
    _disk_a, _disk_b, s3 = counted_s3_only
    result = backup.create()
    key = f"railops-backups/{result.manifest['dump']['file']}"
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))
    before = table_checksums()
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 2
    assert [f.id for f in report.findings] == ["backup.restore.checksum"]
    assert table_checksums() == before
    assert _scratch(settings) == []


class _InterruptedAfterOneChunk:
    def __init__(self, fh):
        self.fh, self.reads = fh, 0

    def read(self, size=-1):
        self.reads += 1
        if self.reads > 1:
            raise KeyboardInterrupt  # Ctrl-C arrives while the archive downloads
        return self.fh.read(size)

    def close(self):
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class InterruptedS3(S3Storage):
    """django-storages' S3Storage whose archive download is interrupted after the first chunk."""

    def _open(self, name, mode="rb"):
        fh = super()._open(name, mode)
        return _InterruptedAfterOneChunk(fh) if name.endswith(".zst") else fh


def test_restore__ctrl_c_while_the_offsite_copy_downloads__no_partial_file_kept(
    counted_s3_only, settings, shop_data
):
    result = backup.create()
    settings.STORAGES = {
        **settings.STORAGES,
        "offsite": {**settings.STORAGES["offsite"], "BACKEND": f"{__name__}.InterruptedS3"},
    }
    with pytest.raises(KeyboardInterrupt):
        backup.restore(result.name, safety_backup=False)
    assert _scratch(settings) == [], "a partial download was left behind"


def test_in_memory_storage__create_list_restore_through_its_api__nothing_in_the_working_dir(
    tmp_path, settings, shop_data, monkeypatch
):
    """InMemoryStorage.path() answers (a path under MEDIA_ROOT that holds none of its files):
    railops took that for a local directory, wrote the backup there (the working directory,
    with MEDIA_ROOT unset), and then found no backup in the storage."""
    monkeypatch.chdir(tmp_path)
    settings.MEDIA_ROOT = ""
    settings.STORAGES = {
        **settings.STORAGES,
        "memory": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path / "local"), "BACKUP_STORAGES": ["memory"]}
    result = backup.create()
    assert not (tmp_path / "railops-backups").exists(), "written beside the storage, not in it"
    assert [b.name for b in backup.list_backups()] == [result.name]
    before = table_checksums()
    Product.objects.all().delete()
    report = backup.restore(result.name, safety_backup=False)
    assert report.exit_code == 0, [f.detail for f in report.findings]
    assert report.extras["restore"]["from_storage"] == "memory"
    assert table_checksums() == before
