"""ANALYZE after a restore, one table per statement on two sessions: both engines use it."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from ... import redact
from ...redact import logger
from .params import qualified, raw_connection

_USER_TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY c.relpages DESC, 1, 2
"""
ANALYZE_SESSIONS = 2  # ANALYZE one table per session: two at once, the largest first


def analyze(
    alias: str, tables: list[tuple[str, str]] | None = None, sessions: int = ANALYZE_SESSIONS
) -> dict[str, Any]:
    """ANALYZE ``tables`` ((schema, table) pairs), or every table outside the system schemas;
    what and how long.

    A restore writes rows without statistics: until autovacuum comes round, the planner
    guesses, and db_health warns of rows "never" analyzed. pg_restore does not analyze. Each
    table is analyzed in its own statement, on ``sessions`` connections at once, the largest
    tables first: one ANALYZE uses one server process, and the restore has just ended, so the
    server has the cores to spare (``ANALYZE`` of the whole database would also sample
    pg_catalog, which the restore did not touch).
    """
    started = time.monotonic()
    first = raw_connection(alias)
    try:
        with first.cursor() as cursor:
            if tables is None:
                cursor.execute(_USER_TABLES_SQL)
                tables = [(schema, table) for schema, table in cursor.fetchall()]
        pending = queue.SimpleQueue[tuple[str, str]]()
        for pair in tables:
            pending.put(pair)
        errors: list[BaseException] = []

        def worker(conn: Any | None) -> None:
            own = conn is None
            if conn is None:
                try:
                    conn = raw_connection(alias)
                except Exception as exc:  # no second session (max_connections...): one does
                    logger.debug("ANALYZE on one session only: %s", redact.mask_exception(exc))
                    return
            try:
                with conn.cursor() as cursor:
                    while not errors:
                        try:
                            schema, table = pending.get_nowait()
                        except queue.Empty:
                            return
                        cursor.execute(f"ANALYZE {qualified(schema, table)}")
            except BaseException as exc:  # raised in the caller's thread below
                errors.append(exc)
            finally:
                if own:
                    conn.close()

        helpers = [
            threading.Thread(target=worker, args=(None,), name="railops-analyze", daemon=True)
            for _ in range(min(sessions, len(tables)) - 1)
        ]
        for thread in helpers:
            thread.start()
        worker(first)
        for thread in helpers:
            thread.join()
        if errors:
            raise errors[0]
    finally:
        first.close()
    return {"tables": len(tables), "seconds": round(time.monotonic() - started, 3)}
