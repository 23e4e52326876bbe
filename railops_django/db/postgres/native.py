"""The ``native`` PostgreSQL backup engine: rows through COPY, the schema from the migrations.

No client binary is involved (no pg_dump, no psql), so it works when the image has none, or one
older than the server. Django already knows how to rebuild the schema: from the migrations. The
engine saves only what the migrations cannot rebuild: the rows, the sequence values and the
migration state, and on restore it migrates a fresh database to that state and pours the rows in.

The backup module wraps ``out``/``inp`` in its zstd + sha256 streams and writes ``dump``'s info
dict into the manifest; the stream itself is described in ``pg_native_stream``.

What is covered: every table that the recorded migrations create (the concrete, managed models'
``db_table``s of the migration state, auto-created many-to-many tables included), plus the
content of ``django_migrations``. ``django_migrations`` is created by the recorder, not by a
migration, but its rows are the history (with the applied timestamps that rollback tools read):
restore migrates to the same state and then puts the original rows back, so the round trip is
exact. Tables that no migration creates (raw SQL, unmanaged models, other tools) are listed as
``not_covered`` and make the backup partial.

The info dict ``dump`` returns (JSON-serialisable, no credentials), for the manifest:

- ``engine`` ``"native"``; ``format`` (``FORMAT``; ``restore`` refuses any other);
- ``snapshot`` ``{"id": pg_current_snapshot text, "at": ISO time, "isolation": ...}``;
- ``migrations`` ``{app: [applied names, in applied order]}``, read inside the snapshot;
- ``tables`` ``{table: {"rows": n, "columns": [...]}}`` (exact counts, from the COPY itself);
- ``sequences`` ``{sequence: {"value", "is_called", "table", "column"}}`` (restore finds the
  sequence again through ``pg_get_serial_sequence(table, column)``);
- ``comments`` ``[{"on", "name", "column", "text"}]``: the ``COMMENT``s restore sets again
  (see ``native_comments``);
- ``not_covered`` (tables no migration creates) and ``missing`` (tables the migrations should
  have created but the database lacks);
- ``server_version``, ``workers``, ``rows`` (total) and ``seconds``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.db import connections, router
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import NOT_PROVIDED

from ... import private_dirs, redact
from ...child_env import child_env
from ...redact import logger
from ...report import CannotRun
from . import native_comments, native_triggers
from . import native_stream as stream
from .native_coverage import (
    Expected,
    check_defaults,
    check_indexes_constraints,
    generated_names,
    implied,
    leftover_names,
    table_keys,
)
from .native_operations import is_outside, outside_sql
from .params import SYSTEM_SCHEMAS, libpq_params, quote

ENGINE = "native"
# Text COPY, not binary. Restore goes into a schema rebuilt by the migrations, possibly on
# another server major version, sometimes with a column type the migrations changed since. Text
# is PostgreSQL's stable, documented interchange format: every type's input function accepts its
# own output across major versions, and a column restored into a compatible type still loads.
# Binary COPY is the types' internal send/recv representation: it is tied to the exact type (an
# int4 read into an int8 fails) and only promised to be stable "in most cases" across versions,
# and it is not measurably smaller once zstd has compressed the stream.
FORMAT = "railops-native/1+copy-text"
MIGRATIONS_TABLE = "django_migrations"
# How long dump and restore wait for another session's locks on the tables (a migration
# running, the app still writing) before they give up.
DUMP_LOCK_TIMEOUT_MS = 60_000

# The session settings that make text COPY output exact and portable (what pg_dump sets too):
# UTF8 on the wire whatever the client's locale, ISO dates, timestamptz in UTC, floats with
# every digit, bytea in hex.
SESSION = {
    "client_encoding": "UTF8",
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}

# A test hook: called with each table's name after it was dumped (used to write concurrently).
_after_table: Callable[[str], None] | None = None


class PartialBackup(Exception):
    """The database holds what the native engine cannot restore; the backup would miss it."""

    def __init__(self, tables: list[str], kinds: dict[str, str] | None = None) -> None:
        self.tables = tables
        kinds = kinds or {}
        named = ", ".join(f"{t} ({kinds[t]})" if t in kinds else t for t in tables)
        super().__init__(
            f"{len(tables)} object(s) the migrations do not rebuild would be missing from a native "
            f"backup: {named}. Back up with pg_dump "
            "(RAILOPS BACKUP_ENGINE 'pg_dump'), or accept a partial backup with --allow-partial."
        )


class RestoreFailed(Exception):
    """The restore went wrong after it started; its transaction was rolled back."""


# -- connections -------------------------------------------------------------------------------


def connect_kwargs(alias: str) -> dict[str, Any]:
    """psycopg keyword arguments for ``alias``, with the session settings of an exact COPY."""
    kwargs = libpq_params(alias)
    kwargs["application_name"] = "railops-native"
    kwargs["options"] = " ".join(
        [str(kwargs.get("options", ""))] + [f"-c {key}={value}" for key, value in SESSION.items()]
    ).strip()
    return kwargs


def _connect(alias: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(**connect_kwargs(alias))
    except psycopg.OperationalError as exc:
        raise CannotRun(
            f"the native engine cannot connect to database {alias!r}: {exc}. "
            "Check DATABASE_URL, then run: python manage.py db_health"
        ) from exc


# -- what the migrations create ----------------------------------------------------------------


class _LoaderAt(MigrationLoader):
    """The graph ``migrate`` builds for a database where ``recorded`` is applied, without one.

    As Django decides it: a squashed migration stands for the ones it replaces when all or none
    of them are recorded (and is applied with them), they stand for it when only some are. A
    graph of every migration on disk would hold a squash and the ones it replaces both, and a
    state built from it would apply them in any order: wagtailcore's squash after 0017...0094
    brings ``wagtailcore_page`` back to its 0016 columns.
    """

    def __init__(self, recorded: Collection[tuple[str, str]]) -> None:
        self._recorded: dict[tuple[str, str], Any] = dict.fromkeys(recorded)
        super().__init__(None, ignore_no_migrations=True)

    # build_graph() sets {} without a connection, then adds and pops squashes in it: keep ours.
    @property
    def applied_migrations(self) -> dict[tuple[str, str], Any]:
        return self._recorded

    @applied_migrations.setter
    def applied_migrations(self, value: Any) -> None:
        return None


def _loader(applied: Collection[tuple[str, str]]) -> tuple[MigrationLoader, list[tuple[str, str]]]:
    """The loader for the ``applied`` state, and the nodes of its graph that are applied."""
    loader = _LoaderAt(applied)
    return loader, sorted(key for key in loader.applied_migrations if key in loader.graph.nodes)


def covered_tables(alias: str, applied: Collection[tuple[str, str]]) -> list[str]:
    """The tables the ``applied`` migrations create, in the code's migration graph.

    Apps without migrations are not included: ``migrate`` creates their tables only with
    ``--run-syncdb``, so the engine could not rebuild them; they show up as not covered.
    """
    loader, nodes = _loader(applied)
    if not nodes:
        return []
    state = loader.graph.make_state(nodes=nodes, at_end=True)
    tables: set[str] = set()
    for model in state.apps.get_models(include_auto_created=True):
        if model._meta.can_migrate(connections[alias]) and router.allow_migrate_model(alias, model):
            tables.add(model._meta.db_table)
    return sorted(tables)


def _schema_tables(cur: Any) -> list[str]:
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "ORDER BY 1"
    )
    return [row[0] for row in cur.fetchall()]


def _columns(cur: Any, table: str) -> list[str]:
    # Generated columns cannot be written by COPY; the restore recomputes them.
    cur.execute(
        "SELECT a.attname FROM pg_attribute a "
        "WHERE a.attrelid = (quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass "
        "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        [table],
    )
    return [row[0] for row in cur.fetchall()]


def _applied(cur: Any) -> dict[str, list[str]]:
    cur.execute("SELECT to_regclass(quote_ident(current_schema()) || '.django_migrations')")
    if cur.fetchone()[0] is None:
        return {}
    cur.execute("SELECT app, name FROM django_migrations ORDER BY id")
    applied: dict[str, list[str]] = {}
    for app, name in cur.fetchall():
        applied.setdefault(app, []).append(name)
    return applied


def _as_keys(migrations: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(app, name) for app, names in migrations.items() for name in names}


def _sequences(cur: Any, tables: list[str]) -> dict[str, dict[str, Any]]:
    """The sequences owned by columns of ``tables`` (serial and identity), with their values."""
    cur.execute(
        "SELECT s.relname, t.relname, a.attname FROM pg_depend d "
        "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_class t ON t.oid = d.refobjid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema() "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
        "WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
        "AND d.deptype IN ('a', 'i') AND t.relname = ANY(%s) ORDER BY 1",
        [tables],
    )
    found: dict[str, dict[str, Any]] = {}
    for sequence, table, column in cur.fetchall():
        cur.execute(f"SELECT last_value, is_called FROM {quote(sequence)}")
        value, is_called = cur.fetchone()
        found[sequence] = {
            "value": int(value),
            "is_called": bool(is_called),
            "table": table,
            "column": column,
        }
    return found


# -- what a pg_dump would hold that the migrations do not rebuild ------------------------------

# Schemas no dump holds (pg_dump leaves them out too).
_KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
    "f": "foreign table",
}
_AUTO_FIELDS = {"AutoField", "BigAutoField", "SmallAutoField"}


@dataclass
class Coverage:
    """What the migrations rebuild, as the dump sees it (see ``coverage``)."""

    tables: list[str]  # current-schema tables to COPY
    columns: dict[str, list[str]]  # table -> the columns the migrations create
    auto_columns: set[tuple[str, str]]  # (table, column) of auto fields: their sequences
    run_sql: str  # the applied migrations' RunSQL text and RunPython source, lowercased
    not_covered: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    expected: Expected = field(default_factory=Expected)  # the indexes and constraints
    db_defaults: set[tuple[str, str]] = field(default_factory=set)  # (table, column) with one

    def refuse(self, name: str, kind: str) -> None:
        if name not in self.kinds:
            self.not_covered.append(name)
            self.kinds[name] = kind

    def mentioned(self, name: str) -> bool:
        """True when an applied migration's RunSQL (or RunPython forward code) names ``name``,
        so migrating recreates it."""
        return re.search(rf"(?<![\w$]){re.escape(name.lower())}(?![\w$])", self.run_sql) is not None


def _run_sql_text(
    loader: MigrationLoader,
    applied: Collection[tuple[str, str]],
    tables_of: dict[tuple[str, str], str] | None = None,
    connection: Any = None,
) -> str:
    """The SQL of every RunSQL in the ``applied`` migrations, the source of every RunPython's
    forward function, and the SQL every other package's operation runs, lowercased, one string.

    A RunPython that executes SQL recreates what it names when restore migrates, as a RunSQL
    does: django-oscar's catalogue 0030 creates its materialized view with ``cursor.execute``.
    Its reverse function is left out (it names what it drops). An operation from outside
    Django (django-pgtrigger's ``AddTrigger``, django-add-default-value's ``AddDefaultValue``)
    runs again too: its SQL is collected as ``sqlmigrate`` collects it (``native_operations``,
    on ``connection``). One whose SQL cannot be collected is judged as before that: its
    deconstructed arguments count, and so does its model's table (``tables_of``,
    ``(app_label, model) -> db_table`` of the final state), since it is usually SQL on it.
    """
    from django.db.migrations.operations import RunPython, RunSQL, SeparateDatabaseAndState

    parts: list[str] = []
    tables_of = tables_of or {}
    in_graph = {key for key in applied if key in loader.graph.nodes}
    collected: set[tuple[str, str]] = set()
    failed: set[int] = set()
    if connection is not None:
        sql, unknown = outside_sql(loader, sorted(in_graph), connection)
        parts.append(sql)
        collected = in_graph
        failed = {id(operation) for operation in unknown}

    def collect(app_label: str, operations: list[Any], known: bool) -> None:
        for operation in operations:
            if isinstance(operation, SeparateDatabaseAndState):
                collect(app_label, list(operation.database_operations), known)
            elif isinstance(operation, RunSQL):
                sql = operation.sql
                items = [sql] if isinstance(sql, str) else list(sql)
                for item in items:
                    parts.append(str(item[0] if isinstance(item, list | tuple) else item))
            elif isinstance(operation, RunPython):
                with contextlib.suppress(OSError, TypeError):  # no source (a .pyc, a builtin)
                    parts.append(inspect.getsource(operation.code))
            elif is_outside(operation) and not (known and id(operation) not in failed):
                with contextlib.suppress(Exception):  # a deconstruct() of its own that fails
                    parts.append(repr(operation.deconstruct()[1:]))
                model = str(getattr(operation, "model_name", "") or "").lower()
                if (app_label, model) in tables_of:
                    parts.append(tables_of[(app_label, model)])

    for key in sorted(applied):
        migration = loader.disk_migrations.get(key)  # a replaced one too
        if migration is not None:
            collect(key[0], list(migration.operations), key in collected)
    return "\n".join(parts).lower()


def coverage(alias: str, applied: Collection[tuple[str, str]]) -> Coverage:
    """The tables, columns, indexes and constraints the ``applied`` migrations create, and
    their RunSQL."""
    loader, nodes = _loader(applied)
    columns: dict[str, list[str]] = {}
    auto: set[tuple[str, str]] = set()
    db_defaults: set[tuple[str, str]] = set()
    tables_of: dict[tuple[str, str], str] = {}
    expected = Expected()

    def migrates(model: Any) -> bool:
        return bool(
            model._meta.can_migrate(connections[alias]) and router.allow_migrate_model(alias, model)
        )

    if nodes:
        state = loader.graph.make_state(nodes=nodes, at_end=True)
        models = [m for m in state.apps.get_models(include_auto_created=True) if migrates(m)]
        keys = implied(state, models, connections[alias])
        expected = Expected(
            keys,
            leftover_names(loader, nodes, connections[alias], migrates),
            generated_names(keys, connections[alias]),
        )
        for model in models:
            meta = model._meta
            tables_of[(meta.app_label, meta.model_name)] = meta.db_table
            fields = [f for f in meta.local_concrete_fields if f.column]
            columns[meta.db_table] = [str(f.column) for f in fields]
            auto |= {
                (meta.db_table, str(f.column))
                for f in fields
                if f.get_internal_type() in _AUTO_FIELDS
            }
            db_defaults |= {
                (meta.db_table, str(f.column))
                for f in fields
                if getattr(f, "generated", False) or f.db_default is not NOT_PROVIDED
            }
    run_sql = _run_sql_text(loader, applied, tables_of, connections[alias])
    return Coverage(
        sorted(columns), columns, auto, run_sql, expected=expected, db_defaults=db_defaults
    )


def _check_coverage(cur: Any, cover: Coverage, present: list[str]) -> None:
    """Add to ``cover.not_covered`` all a pg_dump would hold that restoring would not rebuild.

    - every object of another schema (the engine copies the current schema only), and each
      such schema itself; a schema holding only an extension's own objects is the
      extension's (``CREATE EXTENSION`` rebuilds it) and is left out, as are extension members;
    - partitioned tables (and their partitions): COPY cannot read a partitioned table whole;
    - views, materialized views and sequences no applied RunSQL creates (owned sequences of
      auto fields excepted: the migrations create those);
    - columns of covered tables that the migrations do not create (generated ones included),
      and column defaults they do not set (``check_defaults``);
    - comments on indexes, sequences and constraints (``native_comments``; the others are kept);
    - functions, triggers and standalone types no applied RunSQL names;
    - indexes and constraints (primary keys, unique, foreign keys, checks, exclusions) of the
      covered tables that the migration state does not define and no applied RunSQL names,
      matched by definition for Django's own (see ``native_coverage``).
    """
    member = (
        "EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = %s::regclass AND e.objid = {oid} "
        "AND e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e')"
    )
    cur.execute(
        "SELECT n.nspname, c.relname, c.relkind, c.relispartition, "
        "n.nspname = current_schema() FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE {SYSTEM_SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
        f"AND NOT {member.format(oid='c.oid')} ORDER BY 1, 2",
        ["pg_class"],
    )
    relations = cur.fetchall()
    cur.execute(
        "SELECT n.nspname FROM pg_namespace n "
        f"WHERE {SYSTEM_SCHEMAS} AND n.nspname NOT IN (current_schema(), 'public') "
        f"AND NOT {member.format(oid='n.oid')} "
        "AND NOT EXISTS (SELECT 1 FROM pg_extension x WHERE x.extnamespace = n.oid "
        "AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND NOT "
        f"{member.format(oid='c.oid')})) ORDER BY 1",
        ["pg_namespace", "pg_class"],
    )
    for (schema,) in cur.fetchall():
        cover.refuse(f"schema {schema}", "a schema the native engine does not copy")
    owned = _owned_sequences(cur)
    for schema, name, kind, partition, current in relations:
        label = _KINDS[kind]
        if not current:
            cover.refuse(f"{schema}.{name}", f"{label} in schema {schema}")
        elif kind == "p" or partition:
            cover.refuse(name, "partition" if partition else label)
        elif kind in ("v", "m") and not cover.mentioned(name):
            cover.refuse(name, f"{label} no migration creates")
        elif kind == "S":
            owner = owned.get(name)
            if owner in cover.auto_columns or cover.mentioned(name):
                continue  # the migrations create it; its value is in the dump
            if owner and owner[0] not in cover.columns and owner[0] in present:
                continue  # it goes with its table, which is refused by name
            cover.refuse(name, f"sequence owned by {owner[0]}.{owner[1]}" if owner else "sequence")
    for table in present:
        if table not in cover.columns:
            continue
        expected = set(cover.columns[table])
        for column in _all_columns(cur, table):
            if column not in expected:
                cover.refuse(f"{table}.{column}", "column no migration creates")
    _check_routines_triggers_types(cur, cover, member)
    covered = [t for t in present if t in cover.columns]
    check_indexes_constraints(cur, cover.expected, covered, cover.mentioned, cover.refuse)
    explained = cover.db_defaults | cover.auto_columns
    check_defaults(cur, cover.columns, explained, cover.mentioned, cover.refuse)
    native_comments.check_others(cur, cover.mentioned, cover.refuse)


_ROUTINE_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
_TYPE_KINDS = {"e": "enum type", "d": "domain", "r": "range type", "c": "composite type"}


def _check_routines_triggers_types(cur: Any, cover: Coverage, member: str) -> None:
    """Functions, triggers and types of the current schema that no applied RunSQL names.

    Django's own operations never create these, so only a RunSQL can have (a trigger that
    audits, an enum a column uses): restoring runs the migrations, and what none of them
    creates would be gone. An extension's own (``CREATE EXTENSION``) are the extension's.
    """
    cur.execute(
        "SELECT p.proname, p.prokind FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE n.nspname = current_schema() AND NOT {member.format(oid='p.oid')} "
        "ORDER BY 1",
        ["pg_proc"],
    )
    for name, kind in cur.fetchall():
        if not cover.mentioned(name):
            label = _ROUTINE_KINDS.get(kind, "function")
            cover.refuse(f"{name}()", f"{label} no migration creates")
    cur.execute(
        "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND n.nspname = current_schema() ORDER BY 2, 1"
    )
    for name, table in cur.fetchall():
        if not cover.mentioned(name):
            cover.refuse(f"trigger {name} on {table}", "trigger no migration creates")
    # a composite type that is a table's row type goes with its table; a multirange goes with
    # its range; array types are their element's
    cur.execute(
        "SELECT t.typname, t.typtype FROM pg_type t "
        "JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'r', 'c') "
        "AND (t.typtype <> 'c' OR "
        "(SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c') "
        f"AND NOT {member.format(oid='t.oid')} ORDER BY 1",
        ["pg_type"],
    )
    for name, kind in cur.fetchall():
        if not cover.mentioned(name):
            cover.refuse(f"type {name}", f"{_TYPE_KINDS[kind]} no migration creates")


def _owned_sequences(cur: Any) -> dict[str, tuple[str, str]]:
    """Current-schema sequences owned by a column (serial, identity, OWNED BY): name -> owner."""
    cur.execute(
        "SELECT s.relname, t.relname, a.attname FROM pg_depend d "
        "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_namespace n ON n.oid = s.relnamespace AND n.nspname = current_schema() "
        "JOIN pg_class t ON t.oid = d.refobjid "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
        "WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
        "AND d.deptype IN ('a', 'i')"
    )
    return {sequence: (table, column) for sequence, table, column in cur.fetchall()}


def _all_columns(cur: Any, table: str) -> list[str]:
    cur.execute(
        "SELECT a.attname FROM pg_attribute a "
        "WHERE a.attrelid = (quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [table],
    )
    return [row[0] for row in cur.fetchall()]


def _standalone_sequences(cur: Any, cover: Coverage, owned: set[str]) -> dict[str, dict[str, Any]]:
    """Current-schema sequences an applied RunSQL creates (not owned by a dumped column)."""
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'S' ORDER BY 1"
    )
    found: dict[str, dict[str, Any]] = {}
    for (name,) in cur.fetchall():
        if name in owned or name in cover.kinds or not cover.mentioned(name):
            continue
        cur.execute(f"SELECT last_value, is_called FROM {quote(name)}")
        value, is_called = cur.fetchone()
        found[name] = {"value": int(value), "is_called": bool(is_called), "table": None}
    return found


def _populated_matviews(cur: Any, cover: Coverage) -> list[str]:
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'm' AND c.relispopulated ORDER BY 1"
    )
    return [name for (name,) in cur.fetchall() if name not in cover.kinds]


# -- dump --------------------------------------------------------------------------------------


def _begin_snapshot(conn: Any) -> bool:
    """Open the dump's transaction; True when DEFERRABLE was accepted.

    REPEATABLE READ gives every statement of the transaction the same snapshot, which is all a
    consistent dump needs (pg_dump does the same). DEFERRABLE only has an effect for
    SERIALIZABLE READ ONLY; it is asked for as the issue requires and dropped where a server
    or pooler rejects it.
    """
    for deferrable in (True, False):
        try:
            conn.execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                + (", DEFERRABLE" if deferrable else "")
            )
            return deferrable
        except Exception as exc:
            if not deferrable:
                raise
            logger.info("native dump: DEFERRABLE refused (%s); retrying without", exc)
            conn.rollback()
    raise AssertionError("unreachable")


def _copy_table(cur: Any, out: stream.Writable, table: str, columns: list[str]) -> int:
    """Write ``table``'s T, D… and E records to ``out``; the number of rows."""
    stream.write_json(out, stream.TABLE, {"table": table, "columns": columns})
    rows = 0
    buffer = bytearray()
    column_list = ", ".join(quote(c) for c in columns)
    for data in _copy_out(cur, f"COPY {quote(table)} ({column_list}) TO STDOUT"):
        # The server sends one message per row: copy each into one contiguous buffer (keeping
        # the messages themselves alive until a chunk is full measured twice as slow and
        # 25 MB bigger), and cut a record every CHUNK bytes.
        buffer += data
        if len(buffer) >= stream.CHUNK:
            rows += _write_chunk(out, buffer)
            buffer = bytearray()
    if buffer:
        rows += _write_chunk(out, buffer)
    stream.write_json(out, stream.END, {"table": table, "rows": rows})
    return rows


def _copy_out(cur: Any, sql: str) -> Iterator[bytes]:
    """The rows of ``COPY ... TO STDOUT``, one server message each, read straight from libpq.

    psycopg's ``Copy.read()`` runs its generator machinery once per message, which made the
    dump twice as slow as this loop over ``PGconn.get_copy_data`` (1 M rows: 0.8 s vs 0.4 s,
    measured side by side); the rows are the same bytes. Every result is consumed, so psycopg
    finds the connection as it left it (in the snapshot transaction, or failed with the error).
    """
    import psycopg
    from psycopg import pq

    pgconn = cur.connection.pgconn
    pgconn.send_query(sql.encode())
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        message = result.error_message.decode(errors="replace") if result else "no result"
        while pgconn.get_result() is not None:
            pass
        raise psycopg.OperationalError(f"COPY did not start: {message.strip()}")
    get_copy_data = pgconn.get_copy_data
    while True:
        size, data = get_copy_data(0)
        if size < 0:  # -1: done; -2: error, reported by the final result
            break
        yield data
    result = pgconn.get_result()
    while pgconn.get_result() is not None:
        pass
    if result is None or result.status != pq.ExecStatus.COMMAND_OK:
        message = result.error_message.decode(errors="replace") if result else "no result"
        raise psycopg.OperationalError(f"COPY failed: {message.strip()}")


def _write_chunk(out: stream.Writable, chunk: bytearray) -> int:
    stream.write_record(out, stream.DATA, chunk)
    # Text COPY escapes newlines inside values, so each newline ends exactly one row.
    return chunk.count(b"\n")


def _dump_tables(conn: Any, out: stream.Writable, tables: dict[str, list[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        for table, columns in tables.items():
            counts[table] = _copy_table(cur, out, table, columns)
            if _after_table is not None:
                _after_table(table)
    return counts


def _table_sizes(cur: Any, tables: list[str]) -> dict[str, int]:
    cur.execute(
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "WHERE c.relname = ANY(%s)",
        [tables],
    )
    return {name: int(size) for name, size in cur.fetchall()}


def _balance(
    tables: dict[str, list[str]], sizes: dict[str, int], workers: int
) -> list[dict[str, list[str]]]:
    """Split ``tables`` into ``workers`` shares of similar size: largest first, to the lightest."""
    shares: list[dict[str, list[str]]] = [{} for _ in range(workers)]
    loads = [0] * workers
    for table in sorted(tables, key=lambda t: (-sizes.get(t, 0), t)):
        index = loads.index(min(loads))
        shares[index][table] = tables[table]
        loads[index] += sizes.get(table, 0) + 1
    return shares


def dump_share(
    kwargs: dict[str, Any], snapshot_id: str, share: dict[str, list[str]], target: BinaryIO
) -> dict[str, int]:
    """In a worker process: dump ``share`` into ``target`` from the shared snapshot."""
    import psycopg

    with psycopg.connect(**kwargs) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SET TRANSACTION SNAPSHOT " + _literal(snapshot_id))
        counts = _dump_tables(conn, target, share)
        conn.rollback()
    return counts


def _start_worker(job: dict[str, Any], stderr: Any) -> subprocess.Popen[bytes]:
    """``python -m railops_django.db.postgres.native_worker``: a clean environment, fed ``job``."""
    env = child_env({"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "railops_django.db.postgres.native_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        close_fds=True,
    )
    assert proc.stdin is not None
    with proc.stdin:
        proc.stdin.write(json.dumps(job).encode())
    return proc


def _run_workers(
    alias: str,
    conn: Any,
    snapshot_id: str,
    out: stream.Writable,
    tables: dict[str, list[str]],
    sizes: dict[str, int],
    workers: int,
) -> dict[str, int]:
    """Dump ``tables`` with ``workers`` connections that share the snapshot ``snapshot_id``.

    Worker processes, not threads: reading COPY row by row is Python work that holds the GIL,
    so threads measured no faster than one connection. This process dumps the largest share
    straight into ``out`` (so ``out``'s compression overlaps with the workers); each other
    worker writes its share to a 0600 scratch file under ``BACKUP_DIR`` (never memory),
    appended to ``out`` in 1 MiB chunks when it is done. A worker gets the connection settings
    on its stdin, never through argv or the environment, and dies with this process (see
    ``native_worker``); what a killed run leaves is removed by the next create or cleanup
    (``private_dirs.sweep_scratch``).
    """
    shares = _balance(tables, sizes, workers)
    kwargs = connect_kwargs(alias)
    scratch = private_dirs.scratch_dir("native")
    procs: list[tuple[subprocess.Popen[bytes], str, Any]] = []
    try:
        for index, share in enumerate(shares[1:], start=1):
            path = str(scratch / f"share-{index}")
            job = {
                "parent": os.getpid(),
                "kwargs": kwargs,
                "snapshot": snapshot_id,
                "share": share,
                "path": path,
            }
            errors = tempfile.TemporaryFile(dir=scratch)  # noqa: SIM115 (closed in finally)
            procs.append((_start_worker(job, errors), path, errors))
        counts = _dump_tables(conn, out, shares[0])
        for proc, path, errors in procs:
            assert proc.stdout is not None
            result = proc.stdout.read()
            if proc.wait() != 0:
                errors.seek(0)
                message = redact.mask_process_output(errors.read()[-2000:]).strip()
                raise RuntimeError(f"a dump worker failed: {message or proc.returncode}")
            counts.update({str(k): int(v) for k, v in json.loads(result).items()})
            with open(path, "rb") as part:
                shutil.copyfileobj(part, out, stream.CHUNK)
            os.unlink(path)
        return counts
    finally:
        for proc, _path, errors in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            errors.close()
        private_dirs.remove_scratch(scratch)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def dump(
    alias: str, out: BinaryIO, *, workers: int = 1, allow_partial: bool = False
) -> dict[str, Any]:
    """Write one self-describing stream of every covered table's rows to ``out``.

    Returns the info dict for the manifest. Raises PartialBackup when the database has tables
    the migrations do not create, unless ``allow_partial``.
    """
    started = time.monotonic()
    with contextlib.closing(_connect(alias)) as conn:
        deferrable = _begin_snapshot(conn)
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            server_version = cur.fetchone()[0]
            cur.execute("SELECT current_setting('server_version_num')::int")
            version_num = int(cur.fetchone()[0])
            snapshot_fn = (
                "pg_current_snapshot" if version_num >= 130000 else "txid_current_snapshot"
            )
            cur.execute(f"SELECT {snapshot_fn}()::text, now()")
            snapshot_text, snapshot_at = cur.fetchone()

            migrations = _applied(cur)
            present = _schema_tables(cur)
            cover = coverage(alias, _as_keys(migrations))
            covered = set(cover.tables)
            if migrations:
                covered.add(MIGRATIONS_TABLE)
                cover.columns[MIGRATIONS_TABLE] = _all_columns(cur, MIGRATIONS_TABLE)
                cover.auto_columns.add((MIGRATIONS_TABLE, "id"))  # the recorder's own serial
                cover.expected.keys[MIGRATIONS_TABLE] = table_keys(
                    MigrationRecorder.Migration, connections[alias]
                )
            _check_coverage(cur, cover, present)
            for table in present:
                if table not in covered:
                    cover.refuse(table, "table no migration creates")
            not_covered = cover.not_covered
            missing = sorted(covered - set(present))
            if not_covered and not allow_partial:
                raise PartialBackup(not_covered, cover.kinds)
            dumped = [t for t in present if t in covered and t not in cover.kinds]
            if dumped:
                # Hold off schema changes (a concurrent migrate) until the dump is done; writes
                # go on. The lock timeout keeps a backup from queueing behind a long migration.
                cur.execute(f"SET LOCAL lock_timeout = {DUMP_LOCK_TIMEOUT_MS}")
                cur.execute(
                    "LOCK TABLE " + ", ".join(quote(t) for t in dumped) + " IN ACCESS SHARE MODE"
                )
            tables = {
                table: [c for c in _columns(cur, table) if f"{table}.{c}" not in cover.kinds]
                for table in dumped
            }
            sequences = {
                name: meta
                for name, meta in _sequences(cur, dumped).items()
                if name not in cover.kinds
            }
            sequences.update(_standalone_sequences(cur, cover, set(sequences)))
            matviews = _populated_matviews(cur, cover)
            comments = native_comments.read(cur, tables, cover.kinds)
            triggers = [
                t.as_info()
                for t in native_triggers.read(cur, tables)
                if f"trigger {t.name} on {t.table}" not in cover.kinds
            ]
            sizes = _table_sizes(cur, dumped)
            workers = max(1, min(int(workers), len(tables)))
            snapshot_id = ""
            if workers > 1:
                snapshot_id = cur.execute("SELECT pg_export_snapshot()").fetchone()[0]

        header = {
            "format": FORMAT,
            "server_version": server_version,
            "snapshot": snapshot_text,
            "migrations": migrations,
            "sequences": sequences,
            "tables": list(tables),
        }
        stream.write_magic(out)
        stream.write_json(out, stream.HEADER, header)
        # Written in this thread: handing records to a writer thread (so that out's zstd and
        # sha256 overlap with COPY) measured slower on a busy 2-core machine (GIL hand-offs).
        if workers > 1:
            counts = _run_workers(alias, conn, snapshot_id, out, tables, sizes, workers)
        else:
            counts = _dump_tables(conn, out, tables)
        total = sum(counts.values())
        stream.write_json(out, stream.TRAILER, {"tables": len(counts), "rows": total})
        conn.rollback()
    info = {
        "engine": ENGINE,
        "format": FORMAT,
        "snapshot": {
            "id": snapshot_text,
            "at": snapshot_at.isoformat(),
            "isolation": "repeatable read, read only" + (", deferrable" if deferrable else ""),
        },
        "migrations": migrations,
        "tables": {t: {"rows": counts[t], "columns": tables[t]} for t in tables},
        "sequences": sequences,
        "matviews": matviews,
        "comments": comments,
        "triggers": triggers,
        "not_covered": not_covered,
        "not_covered_kinds": cover.kinds,
        "missing": missing,
        "server_version": server_version,
        "workers": workers,
        "rows": total,
        "seconds": round(time.monotonic() - started, 3),
    }
    logger.info(
        "native dump of %s: %d tables, %d rows in %.1fs", alias, len(tables), total, info["seconds"]
    )
    return info


# -- restore -----------------------------------------------------------------------------------


def _migration_targets(
    executor: MigrationExecutor, recorded: set[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The graph nodes to migrate to so that exactly ``recorded`` is applied.

    CannotRun names the first recorded migration the code does not have.
    """
    loader = executor.loader
    # A squash stands for what it replaces, shipped or not: django-oscar's basket
    # 0010_convert_to_valid_json replaces a 0010_json_basket_option that is no longer a file
    # (a rename by ``replaces``), and migrate recorded both names.
    replaced = {key for m in loader.disk_migrations.values() for key in m.replaces or ()}
    for key in sorted(recorded):
        if key not in loader.disk_migrations and key not in replaced:
            raise CannotRun(
                f"the backup was taken with migration {key[0]}.{key[1]}, which this code does "
                f"not have: deploy the code the backup was taken with (it has "
                f"{key[0]}/migrations/{key[1]}.py), then restore again"
            )
    nodes: set[tuple[str, str]] = set()
    for key in recorded:
        if key in loader.graph.nodes:
            nodes.add(key)
            continue
        # Replaced by a squashed migration in this code: use the squash when it is complete.
        for squash, migration in loader.replacements.items():
            if key in migration.replaces:
                if not set(migration.replaces) <= recorded:
                    raise CannotRun(
                        f"the backup has only part of the migrations that {squash[0]}."
                        f"{squash[1]} squashes: restore with the code the backup was taken with"
                    )
                nodes.add(squash)
    # Per app, only the recorded nodes that no other recorded node of that app follows.
    return sorted(
        node
        for node in nodes
        if not any(
            child in nodes and child[0] == node[0] for child in loader.graph.node_map[node].children
        )
    )


def _migrate(executor: MigrationExecutor, targets: list[tuple[str, str]]) -> None:
    """Migrate to ``targets``; RestoreFailed naming the migration that raised.

    The migrations are the project's and its apps' code: a data migration that assumes rows
    added by hand, or writes into 'default' whatever the alias, fails on a fresh database.
    """
    running = ["before the first migration"]

    def progress(action: str, migration: Any = None, fake: bool | None = None, /) -> None:
        if action == "apply_start" and migration is not None:
            running[0] = f"in {migration.app_label}.{migration.name}"

    executor.progress_callback = progress
    try:
        executor.migrate(targets)
    except Exception as exc:  # any error of the migrations' code
        raise RestoreFailed(
            f"migrating the database to the backup's migration state failed {running[0]} "
            f"({redact.mask_exception(exc)}); the migrations before it "
            "stay applied and no rows were loaded. A data migration that assumes rows added "
            "by hand, or writes into 'default' whatever database it migrates, fails so: fix "
            "it, or back up with pg_dump (RAILOPS BACKUP_ENGINE 'pg_dump'), whose restore runs "
            "no migration"
        ) from exc


def _check_target(cur: Any, allowed: set[str], recorded: set[tuple[str, str]]) -> None:
    foreign = [t for t in _schema_tables(cur) if t not in allowed]
    if foreign:
        raise CannotRun(
            f"the target database has {len(foreign)} table(s) that the backup's migrations do "
            f"not create ({', '.join(foreign[:10])}{', ...' if len(foreign) > 10 else ''}): "
            "restore into an empty database, or drop them first"
        )
    ahead = sorted(_as_keys(_applied(cur)) - recorded)
    if ahead:
        names = ", ".join(f"{app}.{name}" for app, name in ahead[:5])
        raise CannotRun(
            f"the target database has migrations applied that the backup does not ({names}): "
            "restore into an empty database"
        )


def _restore_rows(cur: Any, inp: BinaryIO, info: dict[str, Any]) -> dict[str, int]:
    """Read the table records of ``inp`` into the tables; the row count of each."""
    counts: dict[str, int] = {}
    expected = info["tables"]
    while True:
        kind, payload = stream.read_record(inp)
        if kind == stream.TRAILER:
            trailer = stream.decode_json(kind, payload)
            if trailer.get("tables") != len(counts):
                raise stream.StreamError("corrupt stream: the trailer's table count differs")
            return counts
        if kind != stream.TABLE:
            raise stream.StreamError(f"corrupt stream: expected a table, found {kind!r}")
        start = stream.decode_json(kind, payload)
        table, columns = start["table"], start["columns"]
        if table not in expected:
            raise RestoreFailed(f"the stream holds table {table}, which the manifest does not list")
        target = set(_columns(cur, table))
        absent = [c for c in columns if c not in target]
        if absent:
            raise RestoreFailed(
                f"{table} has no column(s) {', '.join(absent)} after migrating: the migrations "
                "do not rebuild the schema the backup was taken from"
            )
        column_list = ", ".join(quote(c) for c in columns)
        with cur.copy(f"COPY {quote(table)} ({column_list}) FROM STDIN") as copy:
            for chunk in stream.table_chunks(inp, table):
                copy.write(chunk)
        counts[table] = cur.rowcount


def _drop_indexes(cur: Any, tables: list[str]) -> list[str]:
    """Drop the indexes and constraints of ``tables``; the statements that rebuild them.

    Loading into bare tables and then building each index once is several times faster than
    updating every index row by row, and validating a foreign key once with one join beats a
    deferred per-row check of millions of rows at commit. pg_restore orders its work the same
    way. The definitions are the server's own (pg_get_indexdef / pg_get_constraintdef), so the
    rebuilt schema is exactly what the migrations made; all of it happens inside the restore's
    transaction, so a failure leaves them as they were.
    """
    cur.execute(
        "SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema() "
        "WHERE t.relname = ANY(%s) AND c.contype IN ('p', 'u', 'f') ORDER BY c.contype, 1, 2",
        [tables],
    )
    constraints = cur.fetchall()
    cur.execute(
        "SELECT x.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "JOIN pg_class x ON x.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema() "
        "WHERE t.relname = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) ORDER BY 1",
        [tables],
    )
    indexes = cur.fetchall()
    foreign = [c for c in constraints if c[2] == "f"]
    keys = [c for c in constraints if c[2] != "f"]
    for table, name, _kind, _definition in foreign + keys:
        cur.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
    for name, _definition in indexes:
        cur.execute(f"DROP INDEX {quote(name)}")
    return (
        [f"ALTER TABLE {quote(t)} ADD CONSTRAINT {quote(n)} {d}" for t, n, _k, d in keys]
        + [definition for _name, definition in indexes]
        + [f"ALTER TABLE {quote(t)} ADD CONSTRAINT {quote(n)} {d}" for t, n, _k, d in foreign]
    )


def _set_sequences(cur: Any, sequences: dict[str, dict[str, Any]]) -> None:
    """Each sequence to the backup's position, undone with the transaction if it rolls back.

    ``setval()`` alone is not transactional: a restore failing after it (row counts, a
    matview, Ctrl-C before COMMIT) left the live rows but rewound their sequences, and the
    app's next insert hit a duplicate key. ``ALTER SEQUENCE ... RESTART`` gives the sequence a
    new file in this transaction, which a rollback discards with the ``setval`` made on it.
    """
    for name, sequence in sequences.items():
        if sequence.get("table") is None:  # created by a migration's RunSQL: found by name
            target = quote(name)
        else:
            cur.execute(
                "SELECT coalesce(pg_get_serial_sequence(%s, %s), %s)",
                [quote(sequence["table"]), sequence["column"], quote(name)],
            )
            target = cur.fetchone()[0]
        cur.execute("SELECT %s::regclass::text", [target])
        cur.execute(f"ALTER SEQUENCE {cur.fetchone()[0]} RESTART")
        cur.execute(
            "SELECT setval(%s::regclass, %s, %s)",
            [target, sequence["value"], sequence["is_called"]],
        )


def _created_by(alias: str, recorded: set[tuple[str, str]]) -> Callable[[str], bool]:
    """Whether a migration of ``recorded`` names an object (the text is read on first use)."""
    text: list[str] = []

    def created(name: str) -> bool:
        if not text:
            loader, _nodes = _loader(recorded)
            text.append(_run_sql_text(loader, recorded, None, connections[alias]))
        return Coverage([], {}, set(), text[0]).mentioned(name)

    return created


def restore(alias: str, inp: BinaryIO, info: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the schema with the migrations, then load ``inp``'s rows in one transaction.

    The target must be empty or hold only tables the backup's migrations create (their rows
    are replaced). CannotRun before anything changed; RestoreFailed (rolled back) when the rows
    do not load or their counts differ from ``info``.
    """
    import psycopg

    started = time.monotonic()
    if info.get("format") != FORMAT:
        raise CannotRun(
            f"this backup's format is {info.get('format')!r}; this railops reads {FORMAT!r}: "
            "restore it with the railops version that made it"
        )
    try:
        stream.read_magic(inp)
        header = stream.expect_json(inp, stream.HEADER)
    except stream.StreamError as exc:
        raise RestoreFailed(f"{exc}; nothing was changed") from exc
    if header.get("format") != FORMAT:
        raise RestoreFailed("the stream's header does not match the manifest's format")
    recorded = _as_keys(info["migrations"])
    connection = connections[alias]
    if connection.in_atomic_block:
        # The migrations would stay uncommitted there, invisible to the loading connection,
        # which would then wait forever on their locks.
        raise CannotRun(
            "the native restore runs its own transactions: call it outside transaction.atomic()"
        )
    executor = MigrationExecutor(connection)
    targets = _migration_targets(executor, recorded)
    allowed = set(covered_tables(alias, recorded)) | {MIGRATIONS_TABLE}

    with contextlib.closing(_connect(alias)) as conn:
        with conn.cursor() as cur:
            _check_target(cur, allowed, recorded)
        conn.rollback()

        if targets:
            _migrate(executor, targets)
        applied = set(MigrationRecorder(connection).applied_migrations())
        extra = sorted(applied - recorded)
        if extra:
            names = ", ".join(f"{app}.{name}" for app, name in extra[:5])
            raise RestoreFailed(f"migrating applied more than the backup recorded: {names}")
        connection.close()

        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SET CONSTRAINTS ALL DEFERRED")
                # TRUNCATE waits for every other session's locks on these tables: give up
                # (RestoreFailed) rather than hang when the app is still using the database.
                cur.execute(f"SET LOCAL lock_timeout = {DUMP_LOCK_TIMEOUT_MS}")
                tables = list(info["tables"])
                # The tables' own triggers stay off while the rows go in (see native_triggers)
                triggers = native_triggers.before_load(
                    cur, tables, native_triggers.recorded(info), _created_by(alias, recorded)
                )
                if tables:
                    # Empty what the migrations filled (content types, permissions, data
                    # migrations, their django_migrations rows) before loading the originals.
                    cur.execute("TRUNCATE " + ", ".join(quote(t) for t in tables) + " CASCADE")
                    rebuild = _drop_indexes(cur, tables)
                counts = _restore_rows(cur, inp, info)
                if tables:
                    for statement in rebuild:
                        cur.execute(statement)
                _set_sequences(cur, info.get("sequences") or {})
                native_triggers.after_load(cur, triggers)
                native_comments.apply(cur, info.get("comments") or [])
                for view in info.get("matviews") or []:
                    # Rebuilt by a migration over empty tables: filled again, as pg_restore does.
                    cur.execute(f"REFRESH MATERIALIZED VIEW {quote(view)}")
                wrong = {
                    t: (counts.get(t), meta["rows"])
                    for t, meta in info["tables"].items()
                    if counts.get(t) != meta["rows"]
                }
                if wrong:
                    detail = ", ".join(
                        f"{t} {got} rows, expected {want}" for t, (got, want) in wrong.items()
                    )
                    raise RestoreFailed(f"row counts differ from the manifest: {detail}")
        except stream.StreamError as exc:
            raise RestoreFailed(f"{exc}; nothing was loaded (rolled back)") from exc
        except native_triggers.Missing as exc:
            raise RestoreFailed(
                f"the backup's trigger(s) {exc} are missing after migrating: the migrations do "
                "not rebuild the schema the backup was taken from; nothing was loaded (rolled "
                "back). Restore a pg_dump backup (RAILOPS BACKUP_ENGINE 'pg_dump') instead"
            ) from exc
        except psycopg.Error as exc:
            raise RestoreFailed(
                f"the rows did not load ({type(exc).__name__}: {exc}); nothing was loaded "
                "(rolled back)"
            ) from exc
    rows = sum(counts.values())
    summary = {"tables": len(counts), "rows": rows, "seconds": round(time.monotonic() - started, 3)}
    logger.info("native restore into %s: %d tables, %d rows", alias, len(counts), rows)
    return summary


__all__ = [
    "ENGINE",
    "FORMAT",
    "PartialBackup",
    "RestoreFailed",
    "covered_tables",
    "dump",
    "restore",
]
