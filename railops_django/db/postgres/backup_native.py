"""The ``native`` engine behind the backup module's Engine protocol (see ``backup_engine``).

``pg_native`` writes to a file and reads from one; the backup module streams chunks through
zstd and sha256. A pipe joins the two: ``pg_native.dump`` runs in a thread writing into it while
the archive pulls chunks out, so nothing is held in memory beyond the pipe and one chunk.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.apps import apps as django_apps
from django.db import DEFAULT_DB_ALIAS, connections, router

from ... import conf, private_dirs
from ...redact import logger
from ...report import CannotRun
from ..backup_types import Dump, EngineError
from . import backup as pg_dump
from . import native as pg_native
from . import native_stream as stream
from . import scratch as scratch_dbs
from .analyze import analyze
from .params import raw_connection

NAME = pg_native.ENGINE
SUFFIX = "native"
ROW_FRAMING = "plain"  # data records hold whole COPY rows
CHUNK = 1 << 20


def why() -> str:
    """Why the native engine runs: asked for, or pg_dump cannot serve (auto)."""
    if conf.get("BACKUP_ENGINE") == "native":
        return "RAILOPS BACKUP_ENGINE is 'native'"
    return "auto: pg_dump cannot serve this server"


def preflight(alias: str) -> dict[str, Any]:
    """The server's version; no client binary is needed."""
    major = pg_dump.server_major(alias)
    return {"server_version": major, "client_version": "none (native engine)"}


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what the archive hands an engine)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _reader(chunks: Iterator[bytes]) -> BinaryIO:
    return cast(BinaryIO, io.BufferedReader(_ChunkReader(chunks), buffer_size=CHUNK))


@contextlib.contextmanager
def open_dump(
    alias: str, schema_only: bool, exact_count_limit: int, *, allow_partial: bool = False
) -> Iterator[Dump]:
    """Run ``pg_native.dump`` in a thread that writes into a pipe; yield its chunks."""
    if schema_only:
        raise CannotRun(
            "a schema-only backup needs pg_dump; with the native engine the schema is the "
            "migrations (every backup records their state): install postgresql-client or drop "
            "--schema-only-backup"
        )
    private_dirs.sweep_scratch()  # what a killed run left (its workers' scratch files)
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []
    info: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    facts: dict[str, Any] = {"engine_reason": why()}

    def produce() -> None:
        try:
            with open(write_fd, "wb", buffering=CHUNK) as out:
                info.update(
                    pg_native.dump(
                        alias,
                        out,
                        workers=conf.get("BACKUP_NATIVE_WORKERS"),
                        allow_partial=allow_partial,
                    )
                )
        except BaseException as exc:  # handed to the consuming thread, which raises it
            failure.append(exc)
        finally:
            connections.close_all()  # this thread's own Django connections

    worker = threading.Thread(target=produce, name="railops-native-dump", daemon=True)
    source = open(read_fd, "rb", buffering=0)  # noqa: SIM115 - closed in finally
    worker.start()

    def chunks() -> Iterator[bytes]:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            yield chunk
        worker.join()
        if failure:
            exc = failure[0]
            if isinstance(exc, pg_native.PartialBackup):
                raise CannotRun(str(exc)) from None  # it names the objects and both ways out
            if isinstance(exc, CannotRun):
                raise exc
            raise EngineError(f"native dump failed: {exc}") from exc
        tables.update(
            {t: {"rows": meta["rows"], "exact": True} for t, meta in info["tables"].items()}
        )
        facts["info"] = info

    try:
        yield Dump(chunks=chunks(), tables=tables, facts=facts)
    finally:
        source.close()  # a consumer that stopped early makes the writer fail and end
        worker.join(timeout=30)


def check_archive(chunks: Iterator[bytes]) -> dict[str, Any]:
    """Read every record through to the trailer (a cut-short or corrupt stream fails)."""
    inp = _reader(chunks)
    try:
        stream.read_magic(inp)
        header = stream.expect_json(inp, stream.HEADER)
        tables = rows = 0
        while True:
            kind, payload = stream.read_record(inp)
            if kind == stream.TRAILER:
                trailer = stream.decode_json(kind, payload)
                break
            if kind == stream.END:
                tables += 1
                rows += int(stream.decode_json(kind, payload).get("rows", 0))
    except stream.StreamError as exc:
        raise EngineError(str(exc)) from exc
    if (trailer.get("tables"), trailer.get("rows")) != (tables, rows):
        raise EngineError(f"the trailer says {trailer}, the records hold {tables} tables")
    return {"format": header.get("format"), "tables": tables, "rows": rows}


def _info(manifest: dict[str, Any] | None) -> dict[str, Any]:
    info = (manifest or {}).get("engine_info")
    if not info:
        raise CannotRun("this native backup's manifest has no engine_info: it cannot be restored")
    return cast(dict[str, Any], info)


def restore(alias: str, chunks: Iterator[bytes], manifest: dict[str, Any] | None = None) -> None:
    """Migrate to the recorded state and load the rows, in one transaction, or change nothing."""
    try:
        with migrations_see(alias):
            pg_native.restore(alias, _reader(chunks), _info(manifest))
    except pg_native.RestoreFailed as exc:
        raise EngineError(str(exc)) from exc


class AllTo:
    """A database router that sends every read and write to one alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self.alias

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return self.alias


def _clear_orm_caches() -> None:
    """Forget the content types and sites cached per alias: under ``default`` they may be the
    other database's."""
    for app_label, model_name in (("contenttypes", "ContentType"), ("sites", "Site")):
        if django_apps.is_installed(f"django.contrib.{app_label}"):
            django_apps.get_model(app_label, model_name).objects.clear_cache()


@contextlib.contextmanager
def migrations_see(alias: str) -> Iterator[None]:
    """While the native restore migrates ``alias``, every way a migration names a database
    leads there: the router for ORM queries that name none, and ``DEFAULT_DB_ALIAS`` itself.

    Migrations written for one database do both. wagtail's initial_data creates its root page
    without ``.using()``; its 0086 calls ``create_permissions()``, which writes to ``default``
    whatever database migrate runs on (and 0090 then fails for want of those rows). So
    ``connections["default"]`` is ``alias``'s connection meanwhile, in this thread only; the
    live one is set aside untouched (an open transaction or lock of the caller stays as it
    was) and put back after, with the content types and sites cached under ``default``
    forgotten both ways.
    """
    before = router.routers
    router.routers = [AllTo(alias), *before]
    live = connections[DEFAULT_DB_ALIAS] if alias != DEFAULT_DB_ALIAS else None
    if live is not None:
        _clear_orm_caches()
        connections[DEFAULT_DB_ALIAS] = connections[alias]
    try:
        yield
    finally:
        router.routers = before
        if live is not None:
            connections[DEFAULT_DB_ALIAS] = live
            _clear_orm_caches()


def restore_test(
    alias: str, chunks: Iterator[bytes], manifest: dict[str, Any] | None = None
) -> dict[str, int]:
    """Restore into a scratch database through a temporary alias, count rows, drop it."""
    temp_alias = f"railops_verify_{secrets.token_hex(4)}"
    with scratch_dbs.scratch_database(alias) as scratch:
        connections.settings[temp_alias] = {**connections[alias].settings_dict, "NAME": scratch}
        try:
            restore(temp_alias, chunks, manifest)
            conn = raw_connection(temp_alias)
            try:
                with conn.cursor() as cursor:
                    counts = pg_dump.row_counts(cursor, 0, exact_all=True)
            finally:
                conn.close()
            return {table: meta["rows"] for table, meta in counts.items()}
        finally:
            connections[temp_alias].close()
            del connections[temp_alias]
            connections.settings.pop(temp_alias, None)
            logger.debug("native restore test of %s done", alias)


def sweep_scratch(alias: str, *, dry_run: bool = False) -> list[str]:
    """The scratch databases of killed restore tests, dropped (see ``scratch.py``)."""
    return scratch_dbs.sweep_scratch(alias, dry_run=dry_run)


def analyze_restored(alias: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """ANALYZE the tables the restore loaded (``engine_info.tables``)."""
    tables = list(_info(manifest).get("tables") or {})
    conn = raw_connection(alias)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schema = cursor.fetchone()[0]
    finally:
        conn.close()
    # the engine copies the current schema only: a key is a table's own name, dots and all
    return analyze(alias, [(schema, table) for table in tables])


def leftover_tables(alias: str, manifest: dict[str, Any]) -> list[str]:
    """None: the native restore refuses a target holding tables its migrations do not create."""
    return []


def replica_lock(alias: str, lock_dir: Path) -> contextlib.AbstractContextManager[bool]:
    """The same PostgreSQL advisory lock as the pg_dump engine (no client binary involved)."""
    return pg_dump.replica_lock(alias, lock_dir)
