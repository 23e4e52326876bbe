"""Two creates never share a name: the backup lock of a database, and the claim of a name.

The **backup lock** is the database's replica lock (a PostgreSQL session advisory lock, so it
holds across replicas; a lock file in BACKUP_DIR for SQLite). Every ``create`` holds it for the
whole backup, ``create --if-due`` decides under it, and ``daemon`` takes it without waiting.
It is re-entrant in one process: the daemon's run, then the create inside it.

The **name claim** is taken before anything is written, in every storage: an ``O_EXCL``
reservation file ``.<name>.claim`` in each local storage, and a claim object written then read
back in each remote one (S3 has no exclusive create; a name that is already claimed, or has a
manifest or a dump, is never used). It covers two databases that share a storage, whose backup
locks differ. A claim is removed once the manifest is written, or the create failed. A claim
records its process and host: one a killed run left on this host (its process gone) is removed,
with the run's temp files, by the next ``create`` or ``cleanup``; any other is a leftover that
``cleanup`` removes after an hour.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.db import DatabaseError

from .. import conf, private_dirs
from ..db import backup_engine
from ..redact import logger
from ..report import CannotRun
from . import storage
from .storage import Place, StorageError

WAIT_S = 15 * 60.0  # how long a create waits for another create of the same database
POLL_S = 0.5
_held: dict[str, int] = {}


def claim_file(name: str) -> str:
    return f".{name}.claim"


@contextlib.contextmanager
def _try_lock(alias: str, engine: backup_engine.Engine) -> Iterator[bool]:
    try:
        manager = engine.replica_lock(alias, Path(conf.get("BACKUP_DIR")))
        held = manager.__enter__()
    except DatabaseError:
        raise
    except OSError as exc:
        raise CannotRun(
            f"cannot take the backup lock in RAILOPS_BACKUP_DIR: {exc.strerror or exc}: make "
            "the directory writable"
        ) from None
    except Exception as exc:  # a driver error on the lock's own connection
        raise DatabaseError(str(exc)) from exc
    try:
        yield bool(held)
    finally:
        manager.__exit__(None, None, None)


@contextlib.contextmanager
def backup_lock(alias: str, wait_s: float | None = None) -> Iterator[bool]:
    """Hold ``alias``'s backup lock, waiting up to ``wait_s`` (default WAIT_S); yields False
    when another process kept it that long."""
    wait_s = WAIT_S if wait_s is None else wait_s
    if _held.get(alias):
        _held[alias] += 1
        try:
            yield True
        finally:
            _held[alias] -= 1
        return
    deadline = time.monotonic() + wait_s
    engine = backup_engine.for_alias(alias)
    with contextlib.ExitStack() as stack:
        while True:
            attempt = contextlib.ExitStack()
            if attempt.enter_context(_try_lock(alias, engine)):
                stack.push(attempt)
                break
            attempt.close()
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(POLL_S)
        _held[alias] = 1
        try:
            yield True
        finally:
            _held.pop(alias, None)


def lock_refusal(alias: str, wait_s: float) -> CannotRun:
    return CannotRun(
        f"another backup of database {alias!r} held the backup lock for {wait_s:.0f}s: let it "
        "finish ('python manage.py backup list' shows it when done), then run this again"
    )


@dataclass
class Claim:
    """A name reserved in every storage until ``release``."""

    name: str
    places: list[Place] = field(default_factory=list)

    def release(self) -> None:
        for place in self.places:
            try:
                storage.delete(place, claim_file(self.name))
            except Exception as exc:  # removed by cleanup later
                logger.warning("could not remove the claim of %s: %s", self.name, exc)
        self.places = []


def _taken(name: str, places: list[Place]) -> bool:
    for place in places:
        names = storage.files(place)
        if f"{name}.json" in names or any(f.startswith(name + ".") for f in names):
            return True
    return False


def _reserve(place: Place, name: str, token: bytes) -> bool:
    """Write ``name``'s claim in ``place``; False when another run holds it.

    A claim this call wrote and could not complete (a full disk, a storage that stopped
    answering) is removed before the error goes up: nothing is left to age into a leftover.
    """
    filename = claim_file(name)
    path = place.local_path(filename)
    if path is not None:
        try:
            storage.make_private_dirs(place, path)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        except OSError as exc:
            raise storage.write_error(place, exc, "write to") from exc
        try:
            try:
                os.write(fd, token)
            finally:
                os.close(fd)
        except OSError as exc:  # ENOSPC, EDQUOT, EIO: the claim is ours and incomplete
            with contextlib.suppress(OSError):
                path.unlink()
            raise storage.write_error(place, exc, "write to") from exc
        return True
    if storage.exists(place, filename):
        return False
    saved = False
    try:
        storage.save_bytes(place, filename, token)
        saved = True
        with storage.open_file(place, filename) as fh:
            return bool(fh.read() == token)
    except Exception:
        # written, then unreadable: ours (a remote put is whole or nothing), so removed
        if saved and (_owns(place, name, token) or not _readable(place, filename)):
            with contextlib.suppress(Exception):
                storage.delete(place, filename)
        raise


def claim(alias: str, when: datetime, tier: str, places: list[Place], stamp: str) -> Claim:
    """Reserve ``<alias>-<stamp>-<tier>`` (or ``-2``, ``-3``...) in every storage."""
    base = f"{alias}-{when.strftime(stamp)}-{tier}"
    token = _token()
    for n in range(1, 1000):
        name = base if n == 1 else f"{base}-{n}"
        if _taken(name, places):
            continue
        held = Claim(name)
        try:
            for place in places:
                if not _reserve(place, name, token):
                    break
                held.places.append(place)
            else:
                # reserved everywhere; a create that finished meanwhile left its manifest
                if not _taken(name, places):
                    return held
        except (StorageError, OSError):
            held.release()
            raise
        except Exception as exc:  # a remote storage's client error
            held.release()
            raise StorageError(f"cannot claim {name} in storage: {exc}") from exc
        held.places = [p for p in held.places if _owns(p, name, token)]
        held.release()
    raise StorageError(f"no free backup name after {base}-999: run 'backup cleanup'")


def _readable(place: Place, filename: str) -> bool:
    """Whether ``filename`` can be read back (False: ours to remove, nobody else's could be
    told apart from it)."""
    try:
        with storage.open_file(place, filename):
            return True
    except Exception:
        return False


def _owns(place: Place, name: str, token: bytes) -> bool:
    try:
        with storage.open_file(place, claim_file(name)) as fh:
            return bool(fh.read() == token)
    except Exception:
        return False


def _host() -> str:
    return socket.gethostname().replace(" ", "_") or "host"


def _token() -> bytes:
    """What a claim holds: the pid, a random part, and the host (``sweep_dead`` reads them)."""
    return f"{os.getpid()} {secrets.token_hex(8)} {_host()}".encode()


def _dead_owner(token: bytes) -> bool:
    """Whether the claim's process is gone: same host, and no process has its pid. A claim
    of another host, of an older version (no host), or of a live pid is never called dead."""
    parts = token.decode(errors="replace").split()
    if len(parts) != 3 or parts[2] != _host() or not parts[0].isdigit():
        return False
    pid = int(parts[0])
    return pid != os.getpid() and not private_dirs.alive(pid)


def sweep_dead(places: list[Place], *, dry_run: bool = False) -> list[str]:
    """Remove the claims (and their runs' temp files) whose process on this host is gone: a
    create killed by SIGTERM or SIGKILL. The names removed, ``storage:file``.

    Only local storages: a claim is read, and removed only if the same file (inode) still
    holds it. A storage that cannot be listed is skipped.
    """
    removed: list[str] = []
    for place in places:
        root = place.local_path()
        if root is None:
            continue
        try:
            names = storage.files(place)
        except StorageError:
            continue
        for filename in names:
            if not (filename.startswith(".") and filename.endswith(".claim")):
                continue
            path = root / filename
            try:
                with open(path, "rb") as fh:
                    token, inode = fh.read(200), os.fstat(fh.fileno()).st_ino
            except OSError:
                continue
            if not _dead_owner(token):
                continue
            stem, pid = filename[: -len(".claim")], token.split()[0].decode()
            debris = [f for f in names if f.startswith(stem + ".") and f.endswith(f".{pid}.tmp")]
            if not dry_run:
                try:
                    if os.stat(path).st_ino != inode:  # claimed again meanwhile
                        continue
                    for name in debris:
                        (root / name).unlink(missing_ok=True)
                    path.unlink()
                except OSError as exc:
                    logger.warning("could not remove the dead claim %s: %s", filename, exc)
                    continue
            removed += [f"{place.label}:{n}" for n in (filename, *debris)]
    return removed
