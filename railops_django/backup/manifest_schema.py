"""The schema a manifest read back must match: manifests are untrusted input (copied by hand,
edited, truncated, written by another version). ``validate`` checks every field railops reads,
so nothing later trips over a type; a manifest that fails is one finding and is skipped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, cast

from ..db import backup_engine
from ..report import CannotRun
from .archive import FORMAT, TIERS, dump_name, manifest_name

SHA256 = re.compile("[0-9a-f]{64}")
# what a native backup's comments are on (db/postgres/native_comments.KEYWORDS)
_COMMENT_ON = ("table", "view", "materialized view")
# a native backup's trigger modes (db/postgres/native_triggers.MODES)
_TRIGGER_MODES = ("enabled", "disabled", "replica", "always")


class ManifestInvalid(ValueError):
    """A manifest read back does not match the schema; the message says which field."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise ManifestInvalid(what)


def _check_dump(dump: Any, name: str, engine: str) -> None:
    _need(isinstance(dump, dict), "'dump' is not an object")
    try:
        suffix = backup_engine.by_name(engine).SUFFIX
    except CannotRun:
        raise ManifestInvalid(f"engine {engine!r} is unknown") from None
    own = dump_name(name, suffix)
    _need(dump.get("file") == own, f"dump.file is {dump.get('file')!r}, not its own {own!r}")
    _need(dump.get("compression") == "zstd", "dump.compression is not 'zstd'")
    for key in ("bytes", "raw_bytes"):
        _need(_is_int(dump.get(key)), f"dump.{key} is not a byte count")
    sha = dump.get("sha256")
    _need(isinstance(sha, str) and bool(SHA256.fullmatch(sha)), "dump.sha256 is not a sha256")
    _need(isinstance(dump.get("layout", "plain"), str), "dump.layout is not text")
    _need(_is_int(dump.get("level", 0)), "dump.level is not a number")


def _check_verification(verification: Any) -> None:
    if verification is None:
        return
    _need(isinstance(verification, dict), "'verification' is neither null nor an object")
    for key in ("ok", "usable"):
        if key in verification:
            _need(isinstance(verification[key], bool), f"verification.{key} is not true/false")
    copies = verification.get("copies", {})
    _need(
        isinstance(copies, dict) and all(isinstance(v, str) for v in copies.values()),
        "verification.copies is not an object of texts",
    )
    test = verification.get("restore_test")
    _need(test is None or isinstance(test, dict), "verification.restore_test is not an object")


def _check_tables(tables: Any) -> None:
    _need(isinstance(tables, dict), "'tables' is not an object")
    for table, info in tables.items():
        _need(
            isinstance(info, dict)
            and _is_int(info.get("rows"))
            and isinstance(info.get("exact"), bool),
            f"tables[{table!r}] is not {{rows, exact}}",
        )


def _check_migrations(migrations: Any) -> None:
    _need(isinstance(migrations, dict), "'migrations' is not an object")
    for app, names in migrations.items():
        _need(
            isinstance(names, list) and all(isinstance(n, str) for n in names),
            f"migrations[{app!r}] is not a list of names",
        )


def _check_database(database: Any) -> None:
    if database is None:
        return
    _need(isinstance(database, dict), "'database' is not an object")
    _need(isinstance(database.get("vendor"), str), "database.vendor is not text")
    _need(
        all(v is None or isinstance(v, (str, int)) for v in database.values()),
        "database holds a value that is not text or a number",
    )


def validate(data: Any, filename: str) -> dict[str, Any]:
    """``data`` as a manifest named ``filename``, or ManifestInvalid saying what is wrong.

    Every field that railops reads is checked here, so nothing later trips over a type.
    """
    _need(isinstance(data, dict), "it is not a JSON object")
    _need(data.get("format") == FORMAT, f"format is {data.get('format')!r}, not {FORMAT!r}")
    name = data.get("name")
    _need(isinstance(name, str) and manifest_name(name) == filename, "its name is not its file's")
    for key in ("alias", "vendor", "engine"):
        _need(isinstance(data.get(key), str), f"{key!r} is not text")
    _need(data.get("tier") in TIERS, f"tier {data.get('tier')!r} is not one of {', '.join(TIERS)}")
    created = data.get("created_at")
    _need(isinstance(created, str), "created_at is not text")
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        raise ManifestInvalid(f"created_at {created!r} is not an ISO 8601 time") from None
    _need(when.tzinfo is not None, f"created_at {created!r} has no time zone")
    _need(isinstance(data.get("schema_only", False), bool), "schema_only is not true/false")
    _need(isinstance(data.get("safety_for", ""), str), "safety_for is not text")
    storages = data.get("storages", [])
    _need(
        isinstance(storages, list) and all(isinstance(s, str) for s in storages),
        "'storages' is not a list of names",
    )
    _check_dump(data.get("dump"), name, data["engine"])
    _check_tables(data.get("tables"))
    _check_migrations(data.get("migrations"))
    _check_verification(data.get("verification"))
    _check_database(data.get("database"))
    _check_engine_info(data.get("engine_info", {}), data["engine"])
    return cast(dict[str, Any], data)


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_engine_info(info: Any, engine: str) -> None:
    """What the native engine (db/postgres/native.py ``dump``) writes and its restore reads:
    tables {name: {rows, columns}}, migrations {app: [names]}, sequences {name: {value,
    is_called, table, column}}, matviews and not_covered [names], comments [{on, name,
    column, text}], triggers [{table, name, enabled}] (absent in older backups)."""
    _need(isinstance(info, dict), "engine_info is not an object")
    if engine == "native":
        for key in ("tables", "migrations"):
            _need(key in info, f"engine_info.{key} is missing")
    tables = info.get("tables", {})
    _need(isinstance(tables, dict), "engine_info.tables is not an object")
    for table, meta in tables.items():
        _need(
            isinstance(meta, dict)
            and _is_int(meta.get("rows"))
            and _names(meta.get("columns", [])),
            f"engine_info.tables[{table!r}] is not {{rows, columns}}",
        )
    migrations = info.get("migrations", {})
    _need(isinstance(migrations, dict), "engine_info.migrations is not an object")
    for app, names in migrations.items():
        _need(_names(names), f"engine_info.migrations[{app!r}] is not a list of names")
    sequences = info.get("sequences") or {}
    _need(isinstance(sequences, dict), "engine_info.sequences is not an object")
    for name, sequence in sequences.items():
        _need(
            isinstance(sequence, dict)
            and isinstance(sequence.get("value"), int)
            and not isinstance(sequence.get("value"), bool)
            and isinstance(sequence.get("is_called"), bool)
            and (
                sequence.get("table") is None
                or (isinstance(sequence["table"], str) and isinstance(sequence.get("column"), str))
            ),
            f"engine_info.sequences[{name!r}] is not {{value, is_called, table, column}}",
        )
    for key in ("matviews", "not_covered"):
        _need(_names(info.get(key) or []), f"engine_info.{key} is not a list of names")
    comments = info.get("comments") or []
    _need(isinstance(comments, list), "engine_info.comments is not a list")
    for index, comment in enumerate(comments):
        _need(
            isinstance(comment, dict)
            and comment.get("on") in _COMMENT_ON
            and isinstance(comment.get("name"), str)
            and (comment.get("column") is None or isinstance(comment["column"], str))
            and isinstance(comment.get("text"), str),
            f"engine_info.comments[{index}] is not {{on, name, column, text}}",
        )
    triggers = info.get("triggers", [])
    _need(isinstance(triggers, list), "engine_info.triggers is not a list")
    for index, trigger in enumerate(triggers):
        _need(
            isinstance(trigger, dict)
            and isinstance(trigger.get("table"), str)
            and isinstance(trigger.get("name"), str)
            and trigger.get("enabled") in _TRIGGER_MODES,
            f"engine_info.triggers[{index}] is not {{table, name, enabled}} with enabled one of "
            + ", ".join(_TRIGGER_MODES),
        )
