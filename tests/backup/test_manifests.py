"""Manifests read back are untrusted input (issue 15, points 3 and 4).

A bad manifest is one finding that names it and is skipped; the other backups list, verify and
age as usual; the dump a manifest owns follows from its own name, never from a path inside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from railops_django import backup
from railops_django.backup import catalog, manifest_schema, retention
from railops_django.backup.catalog import Backup
from railops_django.backup.manifest_schema import ManifestInvalid, validate
from railops_django.db.postgres import native_triggers
from railops_django.db.postgres.params import quote
from tests.utils import run_command


def _manifest(backup_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((backup_dir / f"{name}.json").read_text())


def _write(backup_dir: Path, filename: str, data: Any) -> None:
    (backup_dir / filename).write_text(json.dumps(data))


def _age(backup_dir: Path, name: str, days: int) -> None:
    data = _manifest(backup_dir, name)
    data["created_at"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    _write(backup_dir, f"{name}.json", data)


def _ids(out: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for f in json.loads(out)["findings"]:
        found.setdefault(f["id"], []).append(f)
    return found


def test_copied_manifest_with_foreign_dump_file__cleanup_leaves_kept_backup_verifiable(
    backup_dir, shop_data
):
    kept = backup.create("default", "daily")
    copy = _manifest(backup_dir, kept.name)
    copy["name"] = "default-20200101T000000Z-daily"
    copy["created_at"] = datetime(2020, 1, 1, tzinfo=UTC).isoformat()  # far outside retention
    _write(backup_dir, "default-20200101T000000Z-daily.json", copy)  # dump.file left alone
    out, err, code = run_command("backup", "cleanup", "--format", "json")
    assert code == 0, out + err
    (bad,) = _ids(out)["backup.manifest_invalid"]
    assert "default-20200101T000000Z-daily.json" in bad["title"]
    assert "dump.file" in bad["detail"]
    assert (backup_dir / kept.manifest["dump"]["file"]).exists()
    out, err, code = run_command("backup", "verify", "--latest")
    assert code == 0, out + err
    assert f"{kept.name}: sha256 matches" in out


@pytest.mark.parametrize("hostile", ["../../x", "/etc/passwd", "../default.json", ""])
def test_dump_file_outside_the_storage__one_finding_no_traceback(backup_dir, shop_data, hostile):
    good = backup.create()
    other = backup.create()
    data = _manifest(backup_dir, other.name)
    data["dump"]["file"] = hostile
    _write(backup_dir, f"{other.name}.json", data)
    for args in (("list",), ("report",), ("cleanup",), ("verify", "--all")):
        out, err, code = run_command("backup", *args, "--format", "json")
        assert "Traceback" not in err and "SuspiciousFileOperation" not in out + err
        assert code in (0, 1), (args, out, err)
        bad = _ids(out)["backup.manifest_invalid"]
        assert [b["data"]["manifest"] for b in bad] == [f"{other.name}.json"], args
    assert [b.name for b in backup.list_backups()] == [good.name]
    _out, err, code = run_command("backup", "restore", other.name, "--noinput")
    assert code == 3 and "is not valid" in err and "dump.file" in err
    assert Path("/etc/passwd").exists()


MALFORMED = {
    "no dump key": lambda m: m.pop("dump"),
    "created_at yesterday": lambda m: m.update(created_at="yesterday"),
    "created_at naive": lambda m: m.update(created_at="2026-01-01T00:00:00"),
    "verification yes": lambda m: m.update(verification="yes"),
    "migrations x": lambda m: m.update(migrations="x"),
    "tables list": lambda m: m.update(tables=["a"]),
    "rows text": lambda m: m["tables"].update(t={"rows": "many", "exact": True}),
    "bytes negative": lambda m: m["dump"].update(bytes=-1),
    "sha256 short": lambda m: m["dump"].update(sha256="abc"),
    "tier unknown": lambda m: m.update(tier="hourly"),
    "engine unknown": lambda m: m.update(engine="mysqldump"),
    "database text": lambda m: m.update(database="prod"),
}


@pytest.mark.parametrize("fault", sorted(MALFORMED))
def test_malformed_manifest__listed_as_one_finding_while_the_others_work(
    backup_dir, shop_data, fault, settings
):
    settings.RAILOPS = {
        **settings.RAILOPS,
        "BACKUP_RETENTION": {"daily": 1, "weekly": 0, "monthly": 0},
        "BACKUP_MIN_GOOD": 1,
    }
    first = backup.create("default", "daily")
    broken = backup.create("default", "daily")
    third = backup.create("default", "daily")
    data = _manifest(backup_dir, broken.name)
    MALFORMED[fault](data)
    _write(backup_dir, f"{broken.name}.json", data)

    out, err, code = run_command("backup", "list", "--format", "json")
    assert code == 1, out + err  # the finding is a warning
    listed = json.loads(out)
    assert [b["name"] for b in listed["backups"]] == [third.name, first.name]
    (bad,) = _ids(out)["backup.manifest_invalid"]
    assert broken.name in bad["title"]

    out, err, code = run_command("backup", "report", "--format", "json")
    assert "Traceback" not in err and code in (0, 1), out + err
    assert len(_ids(out)["backup.manifest_invalid"]) == 1

    out, err, code = run_command("backup", "verify", "--all", "--format", "json")
    assert code == 1, out + err
    assert {r["name"] for r in json.loads(out)["verified"]} == {first.name, third.name}

    _age(backup_dir, first.name, 400)
    out, err, code = run_command("backup", "cleanup", "--format", "json")
    assert code == 0, out + err
    assert f"Deleted {first.name}" in out
    assert (backup_dir / f"{broken.name}.json").exists()  # skipped, never deleted
    assert (backup_dir / broken.manifest["dump"]["file"]).exists()  # nor its dump
    assert len(_ids(out)["backup.manifest_invalid"]) == 1

    _out, err, code = run_command("backup", "restore", broken.name, "--noinput")
    assert code == 3 and "is not valid" in err
    assert len(err.strip().splitlines()) == 1
    out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--dry-run")
    assert code == 0, out + err
    assert third.name in out


def test_manifest_not_json__one_finding(backup_dir, shop_data):
    good = backup.create()
    (backup_dir / "default-20260101T000000Z-manual.json").write_bytes(b"\x00{not json")
    out, _err, code = run_command("backup", "list", "--format", "json")
    assert code == 1
    assert [b["name"] for b in json.loads(out)["backups"]] == [good.name]
    (bad,) = _ids(out)["backup.manifest_invalid"]
    assert "JSON" in bad["detail"]


@pytest.mark.parametrize(
    "deep", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000]
)
def test_manifest_nested_past_the_recursion_limit__one_finding_no_traceback(
    backup_dir, shop_data, deep
):
    good = backup.create()
    (backup_dir / "default-20260101T000000Z-manual.json").write_text(deep)
    (backup_dir / f"{good.name}.rollback-plan.json").write_text(deep)

    out, err, code = run_command("backup", "list", "--format", "json")

    assert code == 1, out + err
    assert [b["name"] for b in json.loads(out)["backups"]] == [good.name]
    (bad,) = _ids(out)["backup.manifest_invalid"]
    assert "JSON" in bad["detail"]
    _out, err, code = run_command("backup", "verify", "default-20260101T000000Z-manual")
    assert code == 3 and "is not valid" in err and "Traceback" not in err
    assert catalog.read_rollback_plan(catalog.find(good.name, "default")) is None


# --- the schema itself, against drawn hostile values -------------------------------------------

SHA = "0" * 64
VALID: dict[str, Any] = {
    "format": "railops-backup/1",
    "name": "default-20260101T000000Z-daily",
    "alias": "default",
    "vendor": "sqlite",
    "tier": "daily",
    "created_at": "2026-01-01T00:00:00+00:00",
    "engine": "sqlite",
    "schema_only": False,
    "dump": {
        "file": "default-20260101T000000Z-daily.sqlite3.zst",
        "compression": "zstd",
        "level": 3,
        "layout": "plain",
        "raw_bytes": 10,
        "bytes": 5,
        "sha256": SHA,
    },
    "tables": {"t": {"rows": 1, "exact": True}},
    "migrations": {"shop": ["0001_initial"]},
    "storages": ["local"],
    "verification": None,
    "database": {"vendor": "sqlite", "path": "/tmp/x.sqlite3"},
}
FILENAME = "default-20260101T000000Z-daily.json"

hostile = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["../../x", "/etc/passwd", "yesterday", "yes", "x", SHA, "zstd"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
paths = st.sampled_from(
    [
        ("dump",),
        ("dump", "file"),
        ("dump", "bytes"),
        ("dump", "raw_bytes"),
        ("dump", "sha256"),
        ("created_at",),
        ("verification",),
        ("migrations",),
        ("tables",),
        ("tables", "t"),
        ("tier",),
        ("name",),
        ("engine",),
        ("database",),
        ("storages",),
        ("format",),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(paths, hostile), min_size=1, max_size=3))
def test_validate__hostile_values__rejected_cleanly_or_usable_everywhere(edits):
    data = json.loads(json.dumps(VALID))
    for path, value in edits:
        target = data
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
    try:
        manifest = validate(data, FILENAME)
    except ManifestInvalid:
        return  # rejected with a message, never another exception
    # accepted: everything railops reads from a manifest works
    b = Backup(manifest["name"], manifest, ["local"])
    assert b.file == "default-20260101T000000Z-daily.sqlite3.zst"
    assert b.created_at.tzinfo is not None
    b.as_row()
    assert isinstance(b.good, bool) and isinstance(b.verified, bool)
    retention.plan([retention._item(b)], datetime.now(UTC), {"daily": 1}, 7, 1)
    # what restore's migration check reads
    assert all(isinstance(n, str) for names in manifest["migrations"].values() for n in names)
    assert all(isinstance(i["rows"], int) for i in manifest["tables"].values())


def test_validate__the_valid_manifest_passes_and_name_must_match_file():
    assert validate(json.loads(json.dumps(VALID)), FILENAME)["name"] == VALID["name"]
    with pytest.raises(ManifestInvalid, match="name"):
        validate(json.loads(json.dumps(VALID)), "other.json")
    assert manifest_schema.SHA256.fullmatch(SHA)


# --- a native backup's engine_info: what restore and verify --restore-test read ----------------

NATIVE_INFO: dict[str, Any] = {
    "engine": "native",
    "format": "railops-native/1+copy-text",
    "migrations": {"shop": ["0001_initial"]},
    "tables": {"t": {"rows": 1, "columns": ["id", "name"]}},
    "sequences": {
        "t_id_seq": {"value": 1, "is_called": True, "table": "t", "column": "id"},
        "free_seq": {"value": 7, "is_called": False, "table": None},
    },
    "matviews": ["mv"],
    "comments": [{"on": "table", "name": "t", "column": None, "text": "it's"}],
    "not_covered": [],
    "missing": [],
    "triggers": [
        {"table": "t", "name": "t_audit", "enabled": "enabled"},
        {"table": "t", "name": "pgtrigger_protect_1a2b3", "enabled": "disabled"},
    ],
}


def _native(**edits: Any) -> dict[str, Any]:
    data = json.loads(json.dumps({**VALID, "engine": "native", "vendor": "postgresql"}))
    data["dump"]["file"] = "default-20260101T000000Z-daily.native.zst"
    data["engine_info"] = json.loads(json.dumps(NATIVE_INFO))
    for key, value in edits.items():
        if value is _DELETE:
            del data["engine_info"][key]
        else:
            data["engine_info"][key] = value
    return data


_DELETE = object()


def test_validate__native_engine_info__the_valid_one_passes():
    assert validate(_native(), FILENAME)["engine_info"]["matviews"] == ["mv"]


def test_validate__native_engine_info_of_an_older_backup_without_triggers__passes():
    manifest = validate(_native(triggers=_DELETE), FILENAME)
    assert native_triggers.recorded(manifest["engine_info"]) is None


_trigger_items = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "table": st.text(max_size=12) | hostile,
            "name": st.text(max_size=12) | hostile,
            "enabled": st.sampled_from([*native_triggers.MODES.values(), "O", "D"]) | hostile,
        },
    ),
    max_size=3,
)


class _Recorder:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append(sql)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(triggers=_trigger_items | hostile)
def test_validate__hostile_triggers__rejected_cleanly_or_set_with_quoted_names_only(triggers):
    try:
        manifest = validate(_native(triggers=triggers), FILENAME)
    except ManifestInvalid as exc:
        message = str(exc)
        assert "engine_info.triggers" in message
        return
    # accepted: what the restore sets again is one fixed clause between two quoted names
    found = native_triggers.recorded(manifest["engine_info"])
    assert found is not None
    cursor = _Recorder()
    native_triggers.after_load(cursor, found)
    assert len(cursor.statements) == len(found)
    for trigger, statement in zip(found, cursor.statements, strict=True):
        table, name = (quote(v) for v in (trigger.table, trigger.name))
        clauses = ("ENABLE TRIGGER", "DISABLE TRIGGER", "ENABLE REPLICA TRIGGER")
        clause = statement.removeprefix(f"ALTER TABLE {table} ").removesuffix(f" {name}")
        assert clause in (*clauses, "ENABLE ALWAYS TRIGGER"), statement


@pytest.mark.parametrize(
    "edits",
    [
        {"sequences": [1]},
        {"sequences": {"s": 5}},
        {"sequences": {"s": {"value": 1, "is_called": True, "table": "t"}}},  # no column
        {"sequences": {"s": {"value": "1", "is_called": True, "table": None}}},
        {"sequences": {"s": {"value": 1, "is_called": "yes", "table": None}}},
        {"migrations": "x"},
        {"migrations": {"shop": [1]}},
        {"migrations": _DELETE},
        {"tables": _DELETE},
        {"tables": ["t"]},
        {"tables": {"t": {"columns": ["id"]}}},
        {"tables": {"t": {"rows": -1}}},
        {"tables": {"t": {"rows": 1, "columns": "id"}}},
        {"matviews": [5]},
        {"matviews": "mv"},
        {"not_covered": [5]},
        {"comments": {"t": "x"}},
        {"comments": ["t"]},
        {"comments": [{"on": "function", "name": "f", "column": None, "text": "x"}]},
        {"comments": [{"on": "table); DROP TABLE t; --", "name": "t", "text": "x"}]},
        {"comments": [{"on": "table", "name": 5, "column": None, "text": "x"}]},
        {"comments": [{"on": "table", "name": "t", "column": 1, "text": "x"}]},
        {"comments": [{"on": "table", "name": "t", "column": None, "text": None}]},
        {"triggers": {"t_audit": "enabled"}},
        {"triggers": ["t_audit"]},
        {"triggers": [{"table": "t", "name": "t_audit"}]},
        {"triggers": [{"table": "t", "name": "t_audit", "enabled": "O"}]},
        {"triggers": [{"table": "t", "name": "t_audit", "enabled": True}]},
        {"triggers": [{"table": "t", "name": "x; DROP TABLE t", "enabled": "off; DROP"}]},
        {"triggers": [{"table": 5, "name": "t_audit", "enabled": "enabled"}]},
        {"triggers": [{"table": "t", "name": None, "enabled": "disabled"}]},
        {"triggers": None},
    ],
    ids=lambda e: ",".join(f"{k}={'deleted' if v is _DELETE else v}" for k, v in e.items()),
)
def test_validate__native_engine_info_malformed__manifest_invalid(edits):
    with pytest.raises(ManifestInvalid, match="engine_info"):
        validate(_native(**edits), FILENAME)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sequences", [1]),
        ("migrations", "x"),
        ("matviews", [5]),
        ("migrations", _DELETE),
        ("triggers", [{"table": "t", "name": "t_audit", "enabled": "off"}]),
    ],
    ids=["sequences", "migrations", "matviews", "no-migrations", "triggers"],
)
def test_native_engine_info_hand_edited__verify_and_restore__bad_manifest_no_traceback(
    backup_dir, shop_data, settings, key, value
):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "native"}
    good = backup.create("default", "daily")
    edited = backup.create("default", "daily")
    data = _manifest(backup_dir, edited.name)
    if value is _DELETE:
        del data["engine_info"][key]
    else:
        data["engine_info"][key] = value
    _write(backup_dir, f"{edited.name}.json", data)

    out, err, code = run_command("backup", "list", "--format", "json")
    assert [b["name"] for b in json.loads(out)["backups"]] == [good.name], out + err
    (bad,) = _ids(out)["backup.manifest_invalid"]
    assert edited.name in bad["title"] and "engine_info" in bad["detail"]
    for argv in (
        ["verify", edited.name, "--restore-test"],
        ["restore", edited.name, "--noinput"],
    ):
        _out, err, code = run_command("backup", *argv)
        assert code == 3 and "is not valid" in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
