"""Clean faults (issue 15, points 7 and 8), with real processes on real PostgreSQL.

- A SIGKILLed native backup with 2 workers used to leave both workers alive (17 minutes later)
  and a 0644 scratch file of plaintext COPY rows that no cleanup saw. Now the workers die with
  their parent, the scratch file is 0600 in a 0700 directory under BACKUP_DIR, and the next
  run removes it.
- Children inherited the whole environment; a worker's /proc/PID/environ now has no
  SECRET_KEY and no DATABASE_URL.
- A SIGKILLed ``verify --restore-test`` left its scratch database; the next sweep drops it,
  and never one a live run holds.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from railops_django import private_dirs
from railops_django.db.postgres import backup as pg_dump
from railops_django.db.postgres import scratch as scratch_dbs
from tests.utils import ROOT

pytestmark = pytest.mark.postgres

SECRET = "Canary-Secret-Key-5d1e"

# The parent: before it starts its worker, it names the worker's tables and waits for the
# test to queue an ACCESS EXCLUSIVE lock on them (behind the dump's own ACCESS SHARE), so the
# worker hangs in its COPY as a worker of a long dump is busy, whatever becomes of the parent.
PARENT = """
import json, os, sys
import django
django.setup()
from railops_django.db.postgres import native as pg_native

original = pg_native._start_worker

def start(job, stderr):
    print(json.dumps({"tables": list(job["share"])}), flush=True)
    sys.stdin.readline()
    proc = original(job, stderr)
    print(json.dumps({"worker": proc.pid, "path": job["path"]}), flush=True)
    return proc

pg_native._start_worker = start
with open(os.devnull, "wb") as out:
    pg_native.dump("default", out, workers=2)
"""

SCRATCH_HOLDER = """
import sys, time
import django
django.setup()
from railops_django.db.postgres import backup as pg_dump
with pg_dump.scratch_database("default") as name:
    print(name, flush=True)
    time.sleep(120)
"""


def _child_env(db: str, backup_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SECRET_KEY": SECRET,
        "RAILOPS_BACKUP_DIR": str(backup_dir),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _lock_queued(db) -> bool:
    return bool(db.sql("SELECT 1 FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock'"))


def _worker_copying(db) -> bool:
    return bool(
        db.sql(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'railops-native' "
            "AND wait_event_type = 'Lock' AND query LIKE 'COPY %%'"
        )
    )


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_native_dump_sigkilled__workers_die_environ_clean_scratch_private_and_swept(
    scratch, tmp_path, settings
):
    from .seed import seed

    db = scratch()
    seed(db.alias, n=20)
    backup_dir = tmp_path / "backups"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        env=_child_env(db.name, backup_dir),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    blocker = psycopg.connect(host="127.0.0.1", user="postgres", dbname=db.name)
    try:
        line = parent.stdout.readline()
        assert line, parent.stderr.read()
        tables = ", ".join(f'"{t}"' for t in json.loads(line)["tables"])
        locking = threading.Thread(
            target=lambda: blocker.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
        )
        locking.start()
        assert _wait(lambda: _lock_queued(db), 10)
        parent.stdin.write("go\n")
        parent.stdin.flush()
        started = json.loads(parent.stdout.readline())
        worker, path = started["worker"], Path(started["path"])
        assert _wait(path.exists, 30), "the worker never opened its scratch file"

        environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
        names = {item.split(b"=", 1)[0] for item in environ if item}
        assert b"SECRET_KEY" not in names and b"DATABASE_URL" not in names
        assert b"RAILOPS_BACKUP_DIR" not in names and b"PATH" in names
        assert SECRET.encode() not in b"\0".join(environ)

        assert path.is_relative_to(backup_dir / private_dirs.SCRATCH)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700

        # busy in its COPY (killed earlier, it would fail on the vanished snapshot and exit)
        assert _wait(lambda: _worker_copying(db), 10)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        locking.join(timeout=10)  # the test now holds the lock the worker waits for
        assert not locking.is_alive()
        assert _wait(lambda: _gone(worker), 10), "a worker outlived its parent by 10 s"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pipe in (parent.stdin, parent.stdout, parent.stderr):
            pipe.close()
        blocker.close()

    assert path.exists()  # what the killed run left, until the next run
    settings.RAILOPS = {"BACKUP_DIR": str(backup_dir)}
    removed = private_dirs.sweep_scratch()
    assert removed == [path.parent.name]
    assert not (backup_dir / private_dirs.SCRATCH).exists()


def test_scratch_sweep__live_run_kept_killed_run_dropped(scratch, tmp_path, settings):
    db = scratch()
    holder = subprocess.Popen(
        [sys.executable, "-c", SCRATCH_HOLDER],
        cwd=ROOT,
        env=_child_env(db.name, tmp_path / "backups"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        killed = holder.stdout.readline().strip()
        assert killed.startswith(pg_dump.SCRATCH_PREFIX)
        with pg_dump.scratch_database(db.alias) as live:
            assert pg_dump.sweep_scratch(db.alias) == []  # both are held by a live run
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(timeout=10)
            # the server lets go of the killed session's lock once it sees the socket close
            assert _wait(lambda: pg_dump.sweep_scratch(db.alias, dry_run=True) == [killed], 10)
            assert pg_dump.sweep_scratch(db.alias) == [killed]
            assert _exists(db, live) and not _exists(db, killed)
        assert not _exists(db, live)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()
        for name in (killed,):
            db.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _exists(db, name: str) -> bool:
    return bool(db.sql("SELECT 1 FROM pg_database WHERE datname = %s", [name]))


def test_scratch_sweep__another_databases_scratch__never_touched(scratch):
    source, other = scratch(), scratch(migrated=False)
    with pg_dump.scratch_database(other.alias) as foreign:
        pass
    # made, then dropped; now make one by hand that looks like another source's leftover
    tag = scratch_dbs._scratch_tag(other.alias)
    name = f"{pg_dump.SCRATCH_PREFIX}{tag}_{'a' * 12}"
    source.sql(f'CREATE DATABASE "{name}"')
    try:
        assert foreign != name
        assert pg_dump.sweep_scratch(source.alias) == []
        assert _exists(source, name)
        assert pg_dump.sweep_scratch(other.alias) == [name]
    finally:
        source.sql(f'DROP DATABASE IF EXISTS "{name}"')
