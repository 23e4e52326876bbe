"""A native-engine dump worker: ``python -m railops_django.db.postgres.native_worker``.

The parent (``pg_native._run_workers``) starts it with ``child_env``'s environment (no
``DATABASE_URL``, no ``SECRET_KEY``) and writes one JSON job to its stdin: the parent's pid,
libpq keyword arguments (the password travels here, never in argv or the environment), the
exported snapshot, the tables to dump and the scratch file to write. The worker prints the
row counts as JSON on stdout.

It dies with its parent: ``PR_SET_PDEATHSIG`` on Linux, and on every platform a watchdog
thread that ends the process once its parent is gone (``getppid`` changes).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
from typing import Any

PR_SET_PDEATHSIG = 1
POLL_S = 0.5


def die_with_parent(parent: int) -> None:
    """End this process as soon as ``parent`` is no longer its parent."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(70)
            time.sleep(POLL_S)

    # The parent may have died before prctl took effect: the watchdog's first look sees it.
    threading.Thread(target=watch, name="railops-parent-watch", daemon=True).start()


def run(job: dict[str, Any]) -> dict[str, int]:
    from . import native as pg_native

    path = job["path"]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as target:
        return pg_native.dump_share(job["kwargs"], job["snapshot"], job["share"], target)


def main() -> int:
    job = json.loads(sys.stdin.read())
    die_with_parent(int(job["parent"]))
    try:
        counts = run(job)
    except Exception as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
