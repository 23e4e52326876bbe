"""The rollback plan travels with its backup: stored next to it in every storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from railops_django import backup
from railops_django.backup import catalog, retention, storage
from railops_django.migrate import rollback
from tests.backup.test_offsite import _s3
from tests.backup.test_storages import s3_endpoint  # noqa: F401 (a fixture)
from tests.utils import run_command


def test_rollback_plan__next_to_its_backup_in_every_storage_and_goes_with_it(
    backup_dir,
    shop_data,
    settings,
    tmp_path,
    s3_endpoint,  # noqa: F811
):
    settings.STORAGES = {
        **settings.STORAGES,
        "offsite": _s3(s3_endpoint),
        "disk": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "disk")},
        },
    }
    settings.RAILOPS = {
        **settings.RAILOPS,
        "BACKUP_STORAGES": ["local", "disk", "offsite"],
        "BACKUP_RETENTION": {"daily": 1, "weekly": 0, "monthly": 0},
        "BACKUP_MIN_GOOD": 1,
    }
    old = backup.create("default", "daily")
    new = backup.create("default", "daily")
    plan = {
        "targets": {"shop": "0001_initial"},
        "commands": ["migrate shop 0001"],
        "backup": old.name,
    }
    local = rollback.write(plan, "default")
    assert local.exists()  # the local copy under rollback-plans/ stays
    found = catalog.find(old.name)
    assert catalog.read_rollback_plan(found) == json.loads(local.read_text())
    for place in storage.configured():
        assert storage.exists(place, catalog.rollback_plan_name(old.name)), place.label
    # not a manifest: no finding, the backups list as before
    out, _err, code = run_command("backup", "list", "--format", "json")
    assert "backup.manifest_invalid" not in out
    assert {b["name"] for b in json.loads(out)["backups"]} == {old.name, new.name}
    # retention removes it with its backup, everywhere
    data = json.loads((backup_dir / f"{old.name}.json").read_text())
    data["created_at"] = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    body = json.dumps(data).encode()
    for place in storage.configured():
        storage.save_bytes(place, f"{old.name}.json", body)
    report = retention.cleanup()
    assert any(f.title.startswith(f"Deleted {old.name}") for f in report.findings)
    for place in storage.configured():
        assert not storage.exists(place, catalog.rollback_plan_name(old.name)), place.label
        assert storage.exists(place, f"{new.name}.json")
