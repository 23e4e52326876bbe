"""Where backups go: Django storages, each one receives a full copy (the 3-2-1 copies).

``RAILOPS["BACKUP_STORAGES"]`` lists aliases from ``settings.STORAGES``; empty means one local
FileSystemStorage at ``BACKUP_DIR``. The alias ``local`` always means that directory.

Local writes are atomic (temporary file, fsync, rename); files are 0600, directories 0700.
Remote storages (S3, Railway buckets...) go through ``Storage.save``.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import FileSystemStorage, InMemoryStorage, Storage, storages
from django.core.files.storage.handler import InvalidStorageError

from .. import conf, platform
from ..private_dirs import full_disk_advice, keep_default_out_of_git, private_dir
from ..redact import logger
from ..report import CannotRun

PREFIX = "railops-backups/"  # inside a shared storage (S3 bucket, MEDIA_ROOT...)
CHUNK = 1 << 20


class StorageError(Exception):
    """A storage could not be written or read; the message names it and says why."""


@dataclass(frozen=True)
class Place:
    """One storage that holds backups, and where in it."""

    label: str
    storage: Storage
    prefix: str = ""

    def key(self, filename: str) -> str:
        return self.prefix + filename

    def local_path(self, filename: str = "") -> Path | None:
        """Where a FileSystemStorage (or subclass) keeps ``filename``; None for any other
        storage, which railops reads and writes through its own API only. By class, not by
        whether ``path()`` answers: InMemoryStorage answers with a path under MEDIA_ROOT that
        holds none of its files, and writing there put backups in the working directory."""
        if not isinstance(self.storage, FileSystemStorage):
            return None
        try:
            return Path(self.storage.path(self.key(filename)))
        except NotImplementedError:
            return None

    @property
    def on_this_machine(self) -> bool:
        return self.local_path() is not None

    @property
    def ephemeral(self) -> bool:
        """A local directory that Railway wipes on every deploy (not on a mounted volume)."""
        path = self.local_path()
        if path is None:
            return False
        facts = platform.railway()
        if not facts.on_railway:
            return False
        volume = facts.volume_mount_path
        return not volume or not str(path.resolve()).startswith(str(Path(volume).resolve()))

    def describe(self) -> str:
        path = self.local_path()
        return f"{self.label} ({path})" if path else self.label

    @property
    def offsite(self) -> bool:
        return is_offsite(self)


# --- offsite: the one judgement ---------------------------------------------------------------

# Filesystems whose files live on another machine: a FileSystemStorage on one of them is offsite.
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "9p"}
)
OFFSITE_FIX = (
    "Add a storage off this machine, next to the local copy: an S3 bucket (django-storages' "
    "storages.backends.s3.S3Storage; Railway buckets work) as settings.STORAGES['offsite'], "
    "then RAILOPS={'BACKUP_STORAGES': ['local', 'offsite']} (or the variable "
    "RAILOPS_BACKUP_STORAGES=local,offsite)"
)


MOUNTS = Path("/proc/mounts")


def _mount_type(path: Path) -> str:
    """The filesystem type of the mount that holds ``path`` (from /proc/mounts), or ''."""
    try:
        lines = MOUNTS.read_text().splitlines()
    except OSError:
        return ""
    target = str(path.resolve())
    best, kind = "", ""
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def is_offsite(place: Place) -> bool:
    """Whether a copy in ``place`` survives the loss of this machine (its disk, volume, container).

    By class: a storage that serves files by path (FileSystemStorage and its subclasses) or keeps
    them in this process (InMemoryStorage) is on this machine; any other storage (S3, Google
    Cloud, Azure, SFTP...) is offsite. By location: a path storage counts as offsite only when
    its directory is on a network filesystem (NFS, SMB, sshfs...).
    """
    if isinstance(place.storage, InMemoryStorage):
        return False
    path = place.local_path()
    if path is None:
        return True
    return _mount_type(path) in NETWORK_FILESYSTEMS


def offsite_places(places: list[Place]) -> list[Place]:
    return [p for p in places if is_offsite(p)]


def local_place() -> Place:
    return Place("local", FileSystemStorage(location=conf.get("BACKUP_DIR")))


def configured() -> list[Place]:
    aliases = conf.get("BACKUP_STORAGES")
    if not aliases:
        return [local_place()]
    places = []
    for alias in aliases:
        if alias == "local":
            places.append(local_place())
            continue
        try:
            places.append(Place(alias, storages[alias], PREFIX))
        except InvalidStorageError:
            raise CannotRun(
                f"RAILOPS['BACKUP_STORAGES'] names {alias!r}, which is not in settings.STORAGES: "
                f"add STORAGES[{alias!r}] or remove it from BACKUP_STORAGES"
            ) from None
    return places


def make_private_dirs(place: Place, path: Path) -> None:
    """Create ``path``'s directory (0700) up to the place's root."""
    root = place.local_path()
    assert root is not None
    created = not root.exists()
    private_dir(path.parent)
    if created and place.label == "local":
        keep_default_out_of_git(root)
    if created or place.label == "local" or place.prefix:
        os.chmod(root, 0o700)
    if path.parent != root:
        os.chmod(path.parent, 0o700)


_FULL = {errno.ENOSPC, errno.EDQUOT}  # a full disk or quota: room, not permissions, is missing
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}
_SETTING = "RAILOPS_BACKUP_DIR / RAILOPS['BACKUP_STORAGES']"


def write_error(place: Place, exc: OSError, doing: str) -> StorageError:
    """The one StorageError for a failed write (or other ``doing``) to ``place``: what failed,
    and the advice that fits the error (room for a full disk, rights for a refused write)."""
    where = place.describe()
    said = f"cannot {doing} storage {where}: {exc.strerror or exc}"
    if exc.errno in _FULL:
        return StorageError(said + full_disk_advice(place.local_path()))
    if exc.errno in _NOT_ALLOWED:
        return StorageError(
            f"{said}. Make it writable by this user, or point {_SETTING} at a writable storage"
        )
    return StorageError(f"{said}. Check that storage, or point {_SETTING} at another one")


class AtomicFile:
    """A 0600 temp file next to the target, renamed into place by ``commit``."""

    def __init__(self, place: Place, filename: str) -> None:
        path = place.local_path(filename)
        assert path is not None
        self.place, self.path = place, path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            make_private_dirs(place, path)
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise write_error(place, exc, "write to") from exc
        self.fh: IO[bytes] = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            raise write_error(self.place, exc, "write to") from exc

    def commit(self) -> None:
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            os.replace(self.tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise write_error(self.place, exc, "write to") from exc

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def check_writable(place: Place, *, create: bool = True) -> None:
    """Fail before dumping when a storage cannot take a file. ``create=False`` (a dry run)
    writes nothing: the nearest directory on the way that exists must be writable."""
    if not place.on_this_machine:
        return
    if create:
        probe = AtomicFile(place, ".railops-write-check")
        probe.abort()
        return
    path = place.local_path(".railops-write-check")
    assert path is not None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise write_error(place, NotADirectoryError(errno.ENOTDIR, "Not a directory"), "write to")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise write_error(place, PermissionError(errno.EACCES, "Permission denied"), "write to")


def save_file(place: Place, filename: str, source: IO[bytes]) -> None:
    """Copy an open file into ``place`` under ``filename`` (atomically when local)."""
    source.seek(0)
    if place.on_this_machine:
        target = AtomicFile(place, filename)
        try:
            while chunk := source.read(CHUNK):
                target.write(chunk)
            target.commit()
        except BaseException:
            target.abort()
            raise
        return
    key = place.key(filename)
    try:
        if place.storage.exists(key):
            place.storage.delete(key)
        saved = place.storage.save(key, File(source, name=filename))
    except Exception as exc:
        raise StorageError(f"cannot write {filename} to storage {place.label}: {exc}") from exc
    if saved != key:
        with contextlib.suppress(Exception):
            place.storage.delete(saved)
        raise StorageError(
            f"storage {place.label} saved {filename} as {saved}: set file_overwrite=True"
        )


def save_bytes(place: Place, filename: str, data: bytes) -> None:
    import io

    save_file(place, filename, io.BytesIO(data))


def open_file(place: Place, filename: str) -> IO[bytes]:
    return place.storage.open(place.key(filename), "rb")


def read_chunks(place: Place, filename: str) -> Iterator[bytes]:
    with open_file(place, filename) as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def exists(place: Place, filename: str) -> bool:
    """Whether ``filename`` is in ``place``; False when the storage cannot say (an outage)."""
    try:
        return bool(place.storage.exists(place.key(filename)))
    except Exception as exc:  # OSError, or a remote storage's client error
        logger.info("cannot tell whether %s is in %s: %s", filename, place.label, exc)
        return False


def delete(place: Place, filename: str) -> None:
    place.storage.delete(place.key(filename))


def files(place: Place) -> list[str]:
    """File names at the place's root (hidden temp files included); [] when it does not exist.

    StorageError when the storage cannot be listed, whatever the cause (a permission, a share
    that went away, S3's AccessDenied or a network error): that is not an empty storage.
    """
    try:
        if place.on_this_machine:
            root = place.local_path()
            assert root is not None
            if not root.is_dir():
                return []
            return sorted(p.name for p in root.iterdir() if p.is_file())
        _, names = place.storage.listdir(place.prefix.rstrip("/") or "")
        return sorted(names)
    except (FileNotFoundError, NotImplementedError):
        return []
    except Exception as exc:  # OSError, or a remote storage's client error (credentials, network)
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise StorageError(
            f"cannot list storage {place.label}: {type(exc).__name__}: {reason}"
        ) from exc


def modified(place: Place, filename: str) -> datetime:
    return place.storage.get_modified_time(place.key(filename))
