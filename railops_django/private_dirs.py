"""Directories railops creates: 0700 all the way down, and kept out of git.

Nothing from the rest of railops is imported here, so any module can use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def private_dir(path: Path | str) -> Path:
    """Create ``path`` and every missing parent with mode 0700; the path.

    ``Path.mkdir(parents=True, mode=...)`` gives the mode to the last directory only; its
    parents get the umask's 0755. Existing directories are left as they are.
    """
    path = Path(path)
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    return path


GITIGNORE = "# written by railops: backups hold the whole database; never commit them\n*\n"


def keep_out_of_git(directory: Path | str) -> None:
    """Write a ``.gitignore`` of ``*`` in ``directory`` unless it has one (0600)."""
    target = Path(directory) / ".gitignore"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(GITIGNORE)


def backup_dir() -> Path:
    """``BACKUP_DIR``, created (0700) when it does not exist; the default gets a ``.gitignore``.

    The default ``<BASE_DIR>/backups`` sits inside the project: without the ``.gitignore`` a
    ``git add -A`` would commit every dump. A directory railops did not create is left as
    it is (``railway_diagnose`` warns when it sits in a git work tree without one).
    """
    from . import conf

    path = Path(conf.get("BACKUP_DIR"))
    created = not path.exists()
    private_dir(path)
    if created:
        keep_default_out_of_git(path)
    return path


def keep_default_out_of_git(path: Path | str) -> None:
    """``keep_out_of_git`` for the default ``BACKUP_DIR`` (one set by hand is the user's)."""
    from . import conf

    if Path(path) == Path(conf.default_backup_dir()):
        keep_out_of_git(path)


# -- scratch space of a run: under BACKUP_DIR, and swept when its run was killed --------------

SCRATCH = ".railops-scratch"
STALE_AFTER_S = 24 * 3600  # a scratch directory of another host is removed after a day


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scratch_dir(kind: str) -> Path:
    """A new 0700 directory ``BACKUP_DIR/.railops-scratch/<kind>-<host>-<pid>-<random>``.

    Its name says which process made it, so ``sweep_scratch`` can tell what a killed run left
    from what a running one is using. The caller removes it (``shutil.rmtree``) when done.
    """
    import secrets
    import socket

    host = socket.gethostname().replace("-", "_") or "host"
    name = f"{kind}-{host}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        path = private_dir(backup_dir() / SCRATCH) / name
        path.mkdir(mode=0o700)
    except OSError:
        # A read-only BACKUP_DIR (a restore from a mounted copy): the system's temp directory,
        # still 0700, rather than no restore at all.
        import tempfile

        return Path(tempfile.mkdtemp(prefix=f"railops-{name}-"))
    os.chmod(path, 0o700)
    return path


def remove_scratch(path: Path) -> None:
    """Remove a run's scratch directory, and the scratch root once it is empty."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    if path.parent.name == SCRATCH:
        with contextlib.suppress(OSError):  # another run's scratch is still there
            path.parent.rmdir()


def sweep_scratch(now: float | None = None) -> list[str]:
    """Remove the scratch directories that killed runs left; the names removed.

    A directory is left alone while the process that made it (same host) is alive; one of
    another host is removed once it is older than ``STALE_AFTER_S``.
    """
    import shutil
    import socket
    import time

    from . import conf

    root = Path(conf.get("BACKUP_DIR")) / SCRATCH
    if not root.is_dir():
        return []
    host = socket.gethostname().replace("-", "_") or "host"
    now = time.time() if now is None else now
    removed = []
    for entry in sorted(root.iterdir()):
        parts = entry.name.split("-")
        try:
            pid = int(parts[2]) if len(parts) == 4 else -1
            age = now - entry.lstat().st_mtime
        except (ValueError, OSError):
            continue
        if len(parts) != 4 or pid == os.getpid():
            continue
        dead = parts[1] == host and not alive(pid)
        if dead or (parts[1] != host and age > STALE_AFTER_S):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    with contextlib.suppress(OSError):
        root.rmdir()
    return removed


def full_disk_advice(path: Path | str | None) -> str:
    """What to say after a write under ``path`` ran out of room: the disk's size (not what is
    free: the failed write's own file filled it, and is removed after) and the two ways out."""
    disk = ""
    here = Path(path) if path is not None else None
    while here is not None and not here.exists() and here != here.parent:
        here = here.parent
    if here is not None:
        with contextlib.suppress(OSError):
            disk = f" (a disk of {shutil.disk_usage(here).total / 1e6:,.1f} MB)"
    return (
        f"{disk}. Free space there ('python manage.py backup cleanup' removes the backups "
        "retention no longer keeps) or point RAILOPS_BACKUP_DIR / RAILOPS['BACKUP_STORAGES'] "
        "at a storage with room"
    )
