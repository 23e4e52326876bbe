"""SQLite backups through the online backup API: consistent while the app keeps writing.

The backup API copies the live database page by page into a private (0600) temporary file;
the caller compresses and hashes that file's bytes. Row counts are read from the copy itself,
so they match the archive exactly. Restores decompress into a temporary file, check it with
``PRAGMA integrity_check`` and copy it over the live database with the backup API again (one
step; on failure the live database is unchanged).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import connections

from ... import private_dirs
from ...private_dirs import private_dir
from ...report import CannotRun
from ..backup_types import Dump, EngineError

NAME = "sqlite"
SUFFIX = "sqlite3"
ROW_FRAMING = None  # a database file: binary pages
CHUNK = 1 << 20


def _path(alias: str) -> str:
    name = str(connections[alias].settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        raise CannotRun(
            f"database {alias!r} is an in-memory SQLite database: there is nothing on disk to "
            "back up; point NAME (DATABASE_URL=sqlite:///path/db.sqlite3) at a file"
        )
    if not Path(name).exists():
        raise CannotRun(f"SQLite database file {name} does not exist: run 'manage.py migrate'")
    return name


def preflight(alias: str) -> dict[str, Any]:
    _path(alias)
    return {"server_version": sqlite3.sqlite_version, "client_version": sqlite3.sqlite_version}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_counts(db: sqlite3.Connection) -> dict[str, int]:
    tables = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    return {t: int(db.execute(f"SELECT count(*) FROM {_quoted(t)}").fetchone()[0]) for t in tables}


@contextlib.contextmanager
def _temp_db() -> Iterator[str]:
    # Under BACKUP_DIR (0700), not /tmp: a killed run's copy is swept by the next create or
    # cleanup (private_dirs.sweep_scratch).
    private_dirs.sweep_scratch()
    scratch = private_dirs.scratch_dir("sqlite")
    fd, path = tempfile.mkstemp(prefix="copy-", suffix=".sqlite3", dir=scratch)  # 0600
    os.close(fd)
    try:
        yield path
    finally:
        private_dirs.remove_scratch(scratch)


def _read_file(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


@contextlib.contextmanager
def open_dump(
    alias: str, schema_only: bool, exact_count_limit: int, *, allow_partial: bool = False
) -> Iterator[Dump]:
    source_path = _path(alias)
    with _temp_db() as copy:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        try:
            if schema_only:
                for (sql,) in source.execute(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
                ):
                    target.execute(sql)
                target.commit()
            else:
                source.backup(target)
            tables = {t: {"rows": n, "exact": True} for t, n in row_counts(target).items()}
        except sqlite3.Error as exc:
            said = f"SQLite backup of {source_path} failed: {exc}"
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                # the copy is written under BACKUP_DIR: its disk is what is full
                said += private_dirs.full_disk_advice(copy)
            raise EngineError(said) from exc
        finally:
            source.close()
            target.close()
        yield Dump(chunks=_read_file(copy), tables=tables, facts={"online_backup_api": True})


@contextlib.contextmanager
def _materialised(chunks: Iterator[bytes]) -> Iterator[str]:
    """The decompressed database in a temporary file, integrity-checked."""
    with _temp_db() as path:
        with open(path, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        db = sqlite3.connect(path)
        try:
            result = [row[0] for row in db.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            raise EngineError(f"the archive is not a readable SQLite database: {exc}") from exc
        finally:
            db.close()
        if result != ["ok"]:
            raise EngineError("integrity_check failed: " + "; ".join(result[:5]))
        yield path


def check_archive(chunks: Iterator[bytes]) -> dict[str, Any]:
    with _materialised(chunks) as path:
        db = sqlite3.connect(path)
        try:
            tables = db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
        finally:
            db.close()
    return {"integrity_check": "ok", "tables": int(tables)}


def restore_test(
    alias: str, chunks: Iterator[bytes], manifest: dict[str, Any] | None = None
) -> dict[str, int]:
    with _materialised(chunks) as path:
        db = sqlite3.connect(path)
        try:
            return row_counts(db)
        finally:
            db.close()


def restore(alias: str, chunks: Iterator[bytes], manifest: dict[str, Any] | None = None) -> None:
    target_path = _path(alias)
    with _materialised(chunks) as path:
        connections[alias].close()
        source = sqlite3.connect(path)
        target = sqlite3.connect(target_path, timeout=30)
        try:
            source.backup(target)
        except sqlite3.Error as exc:
            raise EngineError(f"restoring into {target_path} failed: {exc}") from exc
        finally:
            source.close()
            target.close()


def leftover_tables(alias: str, manifest: dict[str, Any]) -> list[str]:
    """None: the restore replaces the whole database file."""
    return []


def sweep_scratch(alias: str, *, dry_run: bool = False) -> list[str]:
    """SQLite restore tests use unnamed-on-exit temporary files: no scratch databases."""
    return []


def analyze_restored(alias: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """ANALYZE the restored file: the planner's statistics (sqlite_stat1) for every index."""
    started = time.monotonic()
    db = sqlite3.connect(_path(alias), timeout=30)
    try:
        db.execute("ANALYZE")
        db.commit()
        tables = len(row_counts(db))
    except sqlite3.Error as exc:
        raise EngineError(f"ANALYZE of {_path(alias)} failed: {exc}") from exc
    finally:
        db.close()
    return {"tables": tables, "seconds": round(time.monotonic() - started, 3)}


@contextlib.contextmanager
def replica_lock(alias: str, lock_dir: Path) -> Iterator[bool]:
    """A lock file next to the backups (SQLite has no advisory locks)."""
    created = not lock_dir.exists()
    private_dir(lock_dir)
    if created:  # lock_dir is BACKUP_DIR: the default one is kept out of git
        private_dirs.keep_default_out_of_git(lock_dir)
    fd = os.open(lock_dir / ".railops-backup.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
