"""PostgreSQL backups through pg_dump/pg_restore, streamed, with the password never in argv.

- Connection facts go to the subprocess as ``PG*`` environment variables; the argv holds no host,
  user, database or password.
- ``pg_dump -Fc -Z0`` writes an uncompressed custom-format archive to a pipe; the caller
  compresses it (zstd, multi-threaded) and hashes it on the fly.
- Row counts are taken in the same snapshot pg_dump dumps (``pg_export_snapshot`` +
  ``--snapshot``), so they match the archive exactly.
- Restores stream into ``pg_restore`` on stdin, in one transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import os
import queue
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from django.db import connections

from ... import conf, private_dirs, redact
from ...child_env import child_env
from ...redact import logger
from ...report import CannotRun
from ..backup_types import Dump, EngineError
from ..connection import apply_connect_timeout
from . import grants
from .analyze import analyze
from .lock_watchdog import LockWatchdog
from .params import qualified, quote, raw_connection
from .scratch import SCRATCH_PREFIX as SCRATCH_PREFIX
from .scratch import scratch_database
from .scratch import sweep_scratch as sweep_scratch  # the engine's sweep_scratch

NAME = "pg_dump"
SUFFIX = "pgdump"
ROW_FRAMING = "pg_custom"  # -Fc -Z0: each COPY row is a chunk after its length
CHUNK = 1 << 20
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def _fix(major: int | str) -> str:
    return (
        f"install postgresql-client-{major} (on Railway add "
        f"RAILPACK_DEPLOY_APT_PACKAGES=postgresql-client-{major}, or a Dockerfile line "
        f"'RUN apt-get install -y postgresql-client-{major}')"
    )


def server_major(alias: str) -> int:
    apply_connect_timeout(alias)
    connection = connections[alias]
    connection.ensure_connection()
    return int(connection.pg_version) // 10000  # type: ignore[attr-defined]


def client_version(binary: str = "pg_dump") -> tuple[int, str] | None:
    """(major, "15.4") of the pg_dump on PATH, or None when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        return None
    return _version_of(path, changed)


@functools.lru_cache(maxsize=16)
def _version_of(path: str, changed: int) -> tuple[int, str] | None:
    """``path --version``, asked once per binary file (``changed``: its mtime)."""
    try:
        out = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
            env=child_env(),
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    if not match:
        return None
    return int(match.group(1)), ".".join(g for g in match.groups() if g)


def preflight(alias: str) -> dict[str, Any]:
    """Versions of server and client; CannotRun with the exact fix when pg_dump cannot dump it."""
    major = server_major(alias)
    versions: dict[str, Any] = {"server_version": major}
    for binary in ("pg_dump", "pg_restore"):
        client = client_version(binary)
        if client is None:
            raise CannotRun(
                f"{binary} is not installed (or not on PATH), so PostgreSQL {major} cannot be "
                f"backed up: {_fix(major)}"
            )
        if client[0] < major:
            raise CannotRun(
                f"{binary} {client[1]} cannot dump a PostgreSQL {major} server: {_fix(major)}, "
                'or set RAILOPS={"BACKUP_ENGINE": "native"} (or "auto") to back up without pg_dump'
            )
        versions[f"{binary}_version"] = client[1]
    versions["client_version"] = versions["pg_dump_version"]
    return versions


def subprocess_env(
    alias: str, dbname: str | None = None, app_name: str = "railops-backup"
) -> dict[str, str]:
    """The environment for pg_dump/pg_restore/psql: PG* variables; nothing goes in argv.

    Only ``child_env``'s names and ``PG*`` reach the child: never ``DATABASE_URL`` or
    ``SECRET_KEY``. libpq reads ambient PG* variables for Django's own connection too, so they
    stay as defaults under the ones taken from the settings.
    """
    settings_dict = connections[alias].settings_dict
    options = settings_dict.get("OPTIONS") or {}
    mapping = {
        "PGHOST": settings_dict.get("HOST") or "",
        "PGPORT": str(settings_dict.get("PORT") or ""),
        "PGUSER": settings_dict.get("USER") or "",
        "PGDATABASE": dbname or settings_dict.get("NAME") or "",
        "PGPASSWORD": settings_dict.get("PASSWORD") or "",
        "PGSSLMODE": str(options.get("sslmode") or ""),
        "PGSSLROOTCERT": str(options.get("sslrootcert") or ""),
        "PGSSLCERT": str(options.get("sslcert") or ""),
        "PGSSLKEY": str(options.get("sslkey") or ""),
        "PGCONNECT_TIMEOUT": str(max(1, round(conf.get("CONNECT_TIMEOUT")))),
        "PGAPPNAME": app_name,
    }
    redact.register_secret(mapping["PGPASSWORD"])
    return child_env({k: v for k, v in mapping.items() if v}, pg=True)


def _no_pg_env() -> dict[str, str]:
    return child_env()


_TABLES_SQL = """
SELECT n.nspname, c.relname, c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1, 2
"""


def _key_part(name: str) -> str:
    return quote(name) if "." in name or '"' in name else name


def table_key(schema: str, table: str) -> str:
    """How a manifest names a table: bare in ``public``, ``schema.table`` elsewhere, and a part
    holding a dot or a quote in double quotes, so that no two tables share a key (a public
    ``"extra.notes"`` and ``extra.notes`` of schema extra used to, and one count hid the other).
    """
    return _key_part(table) if schema == "public" else f"{_key_part(schema)}.{_key_part(table)}"


def row_counts(cursor: Any, exact_limit: int, exact_all: bool = False) -> dict[str, dict[str, Any]]:
    cursor.execute(_TABLES_SQL)
    out: dict[str, dict[str, Any]] = {}
    for schema, table, estimate in cursor.fetchall():
        key = table_key(schema, table)
        if exact_all or estimate < 0 or estimate <= exact_limit:
            cursor.execute(f"SELECT count(*) FROM {qualified(schema, table)}")
            out[key] = {"rows": int(cursor.fetchone()[0]), "exact": True}
        else:
            out[key] = {"rows": int(estimate), "exact": False}
    return out


def leftover_tables(alias: str, manifest: dict[str, Any]) -> list[str]:
    """Tables of the live database that the backup does not hold: ``pg_restore --clean`` drops
    only what the dump holds, so a restore would leave these as they are."""
    held = set((manifest or {}).get("tables") or {})
    conn = raw_connection(alias)
    try:
        with conn.cursor() as cursor:
            cursor.execute(_TABLES_SQL)
            live = [table_key(schema, table) for schema, table, _rows in cursor.fetchall()]
    finally:
        conn.close()
    return sorted(t for t in live if t not in held)


class _Stderr:
    """A subprocess's stderr, collected in a temp file (no pipe deadlock), read back masked."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finally)

    def text(self) -> str:
        self.file.seek(0)
        return redact.mask_process_output(self.file.read()[-4000:]).strip()

    def close(self) -> None:
        self.file.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def open_dump(
    alias: str, schema_only: bool, exact_count_limit: int, *, allow_partial: bool = False
) -> Iterator[Dump]:
    """pg_dump -Fc -Z0 of ``alias`` in a snapshot shared with the row counts."""
    private_dirs.sweep_scratch()  # what a killed run of either engine left under BACKUP_DIR
    raw = raw_connection(alias)
    stderr = _Stderr()
    proc: subprocess.Popen[bytes] | None = None
    try:
        with raw.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            tables = {} if schema_only else row_counts(cursor, exact_count_limit)
        argv = ["pg_dump", "--format=custom", "--compress=0", "--no-password"]
        argv += [f"--snapshot={snapshot}"]
        if schema_only:
            argv.append("--schema-only")
        logger.debug("starting %s", " ".join(argv))
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr.file, env=subprocess_env(alias)
        )
        _widen_pipe(proc.stdout)
        running = proc

        def chunks() -> Iterator[bytes]:
            stdout = cast(io.BufferedReader, running.stdout)
            while True:
                chunk = stdout.read1(CHUNK)
                if not chunk:
                    break
                yield chunk
            code = running.wait()
            if code != 0:
                raise EngineError(f"pg_dump exited {code}: {stderr.text() or 'no message'}")

        yield Dump(chunks=chunks(), tables=tables, facts={"snapshot": True})
    finally:
        if proc is not None:
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        stderr.close()
        with contextlib.suppress(Exception):
            raw.close()


def _widen_pipe(pipe: IO[bytes] | None) -> None:
    """A 1 MiB pipe instead of 64 KiB: fewer wake-ups of pg_restore (Linux only)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if pipe is None or set_size is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), set_size, 1 << 20)
    except OSError:
        logger.debug("could not widen the pipe to pg_restore")


def _feed(proc: subprocess.Popen[bytes], chunks: Iterator[bytes]) -> None:
    """Write ``chunks`` to the process's stdin; a closed pipe ends early (the process failed)."""
    assert proc.stdin is not None
    try:
        for chunk in chunks:
            proc.stdin.write(chunk)
    except BrokenPipeError:
        logger.debug("pg_restore closed its input early")
    except BaseException:
        # reading the archive failed: kill pg_restore before it could see a clean end of
        # input, so its transaction can only roll back
        proc.kill()
        proc.wait()
        raise
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _prefetched(chunks: Iterator[bytes], depth: int = 8) -> Iterator[bytes]:
    """Read and decompress in a thread while the caller writes to pg_restore: the two overlap.

    At most ``depth`` pieces wait in the queue (bounded memory). An error in the reader
    is raised here, in the caller's thread.
    """
    pieces: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                pieces.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(("data", chunk)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    thread = threading.Thread(target=produce, name="railops-restore-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = pieces.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=30)


# How long a restore into the live database waits for a table another session holds (an app
# process idle in a transaction) before it gives up and rolls back; the native engine's too.
RESTORE_LOCK_TIMEOUT_MS = 60_000


def _pg_restore(
    alias: str | None,
    chunks: Iterator[bytes],
    argv: list[str],
    dbname: str | None = None,
    prefetch: bool = False,
    lock_timeout_ms: int | None = None,
) -> str:
    """Run ``argv`` (pg_restore ...) with the archive on stdin; return its stdout."""
    stderr = _Stderr()
    out = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finally)
    app_name = f"railops-restore-{secrets.token_hex(6)}"
    watchdog = None
    if alias and lock_timeout_ms is not None:
        # The archive's header sets lock_timeout = 0 for the session (pg_dump writes it), so a
        # PGOPTIONS of ours would not hold: a watchdog cancels the waiting statement instead.
        watchdog = LockWatchdog(alias, app_name, lock_timeout_ms)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=stderr.file,
            env=subprocess_env(alias, dbname, app_name) if alias else _no_pg_env(),
        )
    except FileNotFoundError:
        stderr.close()
        out.close()
        raise CannotRun(
            "pg_restore is not installed (or not on PATH): install postgresql-client (on "
            "Railway add RAILPACK_DEPLOY_APT_PACKAGES=postgresql-client-<server major>)"
        ) from None
    _widen_pipe(proc.stdin)
    if watchdog is not None:
        watchdog.start()
    try:
        _feed(proc, _prefetched(chunks) if prefetch else chunks)
        code = proc.wait()
        if watchdog is not None:
            watchdog.stop()
        if code != 0:
            text = stderr.text() or "no message"
            if watchdog is not None and watchdog.cancelled:
                raise EngineError(
                    f"another session held a table for more than {watchdog.timeout_ms / 1000:g} s "
                    "(an app process idle in a transaction, a long query), so the restore gave "
                    "up waiting for its lock and rolled back: stop the app's processes (or "
                    "pg_terminate_backend() them) and restore again. pg_restore said: "
                    + text[-600:]
                )
            raise EngineError(f"pg_restore exited {code}: {text}")
        out.seek(0)
        return out.read().decode("utf-8", "replace")
    finally:
        if watchdog is not None:
            watchdog.stop()
        _stop(proc)
        stderr.close()
        out.close()


def check_archive(chunks: Iterator[bytes]) -> dict[str, Any]:
    """``pg_restore --list`` over the whole archive: its table of contents must read."""
    listing = _pg_restore(None, chunks, ["pg_restore", "--list"])
    entries = [line for line in listing.splitlines() if line and not line.startswith(";")]
    data = sum(1 for line in entries if " TABLE DATA " in line)
    return {"toc_entries": len(entries), "table_data_entries": data}


def _restore_argv(extra: list[str] | None = None) -> list[str]:
    return [
        "pg_restore",
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        "--no-password",
        *(extra or []),
    ]


def restore(
    alias: str, chunks: Iterator[bytes], manifest: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Restore into the live database in one transaction: on failure it is left as it was.

    The privileges granted on the live database are granted again afterwards (``grants``):
    ``--clean`` drops the objects, and ``--no-privileges`` does not restore the archive's.
    """
    connections[alias].close()
    raw = raw_connection(alias)
    try:
        with raw.cursor() as cursor:
            before = grants.read(cursor)
    finally:
        raw.close()
    dbname = connections[alias].settings_dict["NAME"]
    argv = [*_restore_argv(["--clean", "--if-exists"]), "-d", dbname]
    _pg_restore(alias, chunks, argv, prefetch=True, lock_timeout_ms=RESTORE_LOCK_TIMEOUT_MS)
    if not before:
        return {"grants": 0, "grants_lost": []}
    try:  # the rows are in: a failure here loses the privileges, not the restore
        raw = raw_connection(alias)
        try:
            granted, lost = grants.grant_again(raw, before)
        finally:
            raw.close()
    except Exception as exc:
        logger.warning("granting the privileges again after the restore failed: %s", exc)
        return {"grants": 0, "grants_lost": [g.label() for g in before]}
    return {"grants": granted, "grants_lost": lost}


def restore_test(
    alias: str, chunks: Iterator[bytes], manifest: dict[str, Any] | None = None
) -> dict[str, int]:
    """Restore into a scratch database (``scratch_database``), count every table's rows."""
    with scratch_database(alias) as scratch:
        argv = [*_restore_argv(), "-d", scratch]
        _pg_restore(alias, chunks, argv, dbname=scratch, prefetch=True)
        conn = raw_connection(alias, scratch)
        try:
            with conn.cursor() as cursor:
                counts = row_counts(cursor, 0, exact_all=True)
        finally:
            conn.close()
        return {table: info["rows"] for table, info in counts.items()}


def analyze_restored(alias: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """After ``restore``: ANALYZE every table of the restored database (pg_restore wrote them)."""
    return analyze(alias)


LOCK_KEY = 0x7261696C6F7073  # "railops"


@contextlib.contextmanager
def replica_lock(alias: str, lock_dir: Path) -> Iterator[bool]:
    """A session advisory lock, so two replicas never back up at the same time."""
    raw = raw_connection(alias)
    try:
        with raw.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            held = bool(cursor.fetchone()[0])
        yield held
        if held:
            with raw.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
    finally:
        raw.close()
