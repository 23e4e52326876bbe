"""A watchdog for the pg_restore of a live restore: it cancels a statement that has waited for
a lock too long, since the archive's own header sets ``lock_timeout = 0``."""

from __future__ import annotations

import threading

from ... import redact
from ...redact import logger
from .params import raw_connection


class LockWatchdog(threading.Thread):
    """Cancels a statement of the pg_restore session ``app_name`` that has waited for a lock
    longer than ``timeout_ms``; pg_restore then exits on the error, and its one transaction
    rolls back. Without it a restore waited, silently and for ever, behind an app process
    idle in a transaction on any table it must drop."""

    POLL_S = 0.5

    def __init__(self, alias: str, app_name: str, timeout_ms: int) -> None:
        super().__init__(name="railops-restore-locks", daemon=True)
        self.alias, self.app_name, self.timeout_ms = alias, app_name, timeout_ms
        self.cancelled = False
        self._done = threading.Event()

    def run(self) -> None:
        try:
            conn = raw_connection(self.alias)
        except Exception as exc:  # no session to watch with: the restore runs unwatched
            logger.info("restore lock watchdog not started: %s", redact.mask_exception(exc))
            return
        try:
            with conn.cursor() as cursor:
                while not self._done.wait(self.POLL_S):
                    cursor.execute(
                        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s AND state = 'active' "
                        "AND wait_event_type = 'Lock' "
                        "AND now() - query_start > make_interval(secs => %s)",
                        [self.app_name, self.timeout_ms / 1000],
                    )
                    if any(row[0] for row in cursor.fetchall()):
                        self.cancelled = True
                        return
        except Exception as exc:  # the watch ends; the restore goes on
            logger.info("restore lock watchdog stopped: %s", redact.mask_exception(exc))
        finally:
            conn.close()

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(timeout=5)
