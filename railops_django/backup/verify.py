"""Verify backups: sha256 of every copy, a full decompress, the archive's table of contents,
and optionally a restore into a scratch database whose row counts must match the manifest."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.db import connections

from .. import private_dirs, redact, render
from ..db import backup_engine
from ..db import connection as dbconn
from ..db.backup_engine import EngineError
from ..redact import logger
from ..report import REPORT, Report, Severity
from . import columns, storage
from .catalog import (
    Backup,
    bad_manifest_findings,
    decompressed,
    find,
    list_backups,
    save_manifest,
    scan,
    select,
    unreachable_findings,
)
from .storage import Place, StorageError


@dataclass
class CopyCheck:
    label: str
    sha256: str | None = None
    bytes: int = 0
    error: str = ""

    def matches(self, manifest: dict[str, Any]) -> bool:
        return not self.error and self.sha256 == manifest["dump"]["sha256"]


@dataclass
class _Counter:
    sha: Any = field(default_factory=hashlib.sha256)
    bytes: int = 0


def _hashed(chunks: Iterator[bytes], counter: _Counter) -> Iterator[bytes]:
    for chunk in chunks:
        counter.sha.update(chunk)
        counter.bytes += len(chunk)
        yield chunk


def hash_copy(
    place: Place,
    backup: Backup,
    through: Callable[[Iterator[bytes]], Iterator[bytes]] | None = None,
) -> CopyCheck:
    """The copy's sha256 and size; ``through`` sees the bytes on their way (a Spool keeps them)."""
    check = CopyCheck(place.label)
    counter = _Counter()
    chunks = storage.read_chunks(place, backup.file)
    try:
        for _ in _hashed(through(chunks) if through else chunks, counter):
            pass
    except (OSError, StorageError) as exc:
        check.error = f"cannot read: {exc}"
        return check
    except Exception as exc:  # a remote storage's client error
        check.error = f"cannot read: {redact.mask_exception(exc)}"
        return check
    check.sha256, check.bytes = counter.sha.hexdigest(), counter.bytes
    return check


class Spool:
    """A copy from another machine kept in a 0600 scratch file while it is hashed, so that
    restore and verify read the very bytes they hashed, and download them once.

    Only when the scratch disk has room for it and for the restore's safety backup (three times
    the archive: ``ROOM``); a write that fails there gives the spool up, and the restore reads
    the storage again. A killed run's spool is swept like any scratch directory.
    """

    ROOM = 3

    def __init__(self, directory: Path) -> None:
        self.directory, self.path = directory, directory / "archive"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh: IO[bytes] | None = os.fdopen(fd, "wb")

    @classmethod
    def open(cls, backup: Backup) -> Spool | None:
        """A spool for ``backup``'s archive, or None when there is no room or no scratch."""
        directory = None
        try:
            directory = private_dirs.scratch_dir("download")
            if shutil.disk_usage(directory).free < cls.ROOM * int(backup.manifest["dump"]["bytes"]):
                private_dirs.remove_scratch(directory)
                return None
            return cls(directory)
        except OSError as exc:
            logger.info("cannot keep a download of %s: %s", backup.name, exc)
            if directory is not None:
                private_dirs.remove_scratch(directory)
            return None

    def keep(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if self._fh is not None:
                try:
                    self._fh.write(chunk)
                except OSError as exc:
                    self._give_up(exc)
            yield chunk

    def _close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None

    def _give_up(self, exc: OSError) -> None:
        logger.info("stopped keeping the download (%s): it will be read again", exc)
        self._close()
        self.path.unlink(missing_ok=True)

    def finished(self) -> bool:
        """Close the file; whether it holds the whole download."""
        if self._fh is None:
            return False
        try:
            self._fh.close()
        except OSError as exc:
            self._give_up(exc)
            return False
        self._fh = None
        return True

    def chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            while chunk := fh.read(storage.CHUNK):
                yield chunk

    def remove(self) -> None:
        self._close()
        private_dirs.remove_scratch(self.directory)


def _copy_checks(
    places: list[Place], backup: Backup, spool: Callable[[], bool]
) -> Iterator[tuple[Place, CopyCheck, Spool | None]]:
    """Each place's copy of ``backup``, hashed, in order, with the Spool that kept a download
    from another machine while ``spool()`` says so; a copy the manifest lists and the place
    lacks is 'missing', one it does not list is passed over."""
    for place in places:
        if storage.exists(place, backup.file):
            kept = Spool.open(backup) if spool() and not place.on_this_machine else None
            try:
                check = hash_copy(place, backup, kept.keep if kept else None)
            except BaseException:  # Ctrl-C mid-download: the partial file goes too
                if kept is not None:
                    kept.remove()
                raise
            yield place, check, kept
        elif place.label in backup.manifest.get("storages", []):
            yield place, CopyCheck(place.label, error="missing"), None


def copy_to_read(
    backup: Backup, *, check_every: bool = False
) -> tuple[Place | None, list[CopyCheck], Spool | None]:
    """The copy to read ``backup`` from: the first whose sha256 matches, those on this machine
    first (reading them downloads nothing); the checks made; and for a copy from another
    machine the Spool that kept its download (None when it could not be kept), so that it is
    downloaded once and what is read is what was hashed. The caller removes the spool.

    With ``check_every`` (verify) every other copy is hashed too, to report it; without
    (restore) the copies after the chosen one are not read: a restore from a good local copy
    does not download the offsite one only to hash it.
    """
    places = sorted(storage.configured(), key=lambda p: not p.on_this_machine)  # stable
    checks: list[CopyCheck] = []
    chosen: list[Place] = []  # the one picked; until then, downloads are kept
    spool: Spool | None = None
    try:
        for place, check, kept in _copy_checks(places, backup, lambda: not chosen):
            checks.append(check)
            if not chosen and check.matches(backup.manifest):
                chosen.append(place)
                if kept is not None and kept.finished():
                    spool, kept = kept, None
            if kept is not None:
                kept.remove()
            if chosen and not check_every:
                break
    except BaseException:
        if spool is not None:
            spool.remove()
        raise
    return (chosen[0] if chosen else None), checks, spool


def _counted(
    chunks: Iterator[bytes], label: str, total: int | None, progress: render.Progress | None
) -> Iterator[bytes]:
    """The archive's bytes as they are read, reported to the command's progress line (taken by
    the caller: an engine may read the stream in a thread of its own)."""
    done = 0
    for chunk in chunks:
        done += len(chunk)
        if progress is not None:
            progress.bytes(done, label, total)
        yield chunk
    if progress is not None:
        progress.done()


def stream(
    place: Place, backup: Backup, label: str = "read", spool: Spool | None = None
) -> Iterator[bytes]:
    """The dump from ``place`` (or from the spool that kept its download) as the engine wrote
    it: decompressed, and out of its layout. Reading it reports progress (``label``, bytes of
    the archive) to the command's line."""
    total = backup.manifest["dump"].get("bytes")
    progress = render.current_progress()
    source = spool.chunks() if spool is not None else storage.read_chunks(place, backup.file)
    chunks = _counted(source, label, total, progress)
    raw = decompressed(chunks)
    layout = backup.manifest["dump"].get("layout", "plain")
    if layout == columns.NAME:
        return columns.decode(raw)
    if layout != "plain":
        raise EngineError(
            f"{backup.name} is laid out as {layout!r}, which this railops version cannot read: "
            "upgrade railops-django"
        )
    return raw


def verify_one(backup: Backup, report: Report, restore_test: bool = False) -> bool:
    place, checks, spool = copy_to_read(backup, check_every=True)
    try:
        return _verify_copies(backup, report, restore_test, place, checks, spool)
    finally:
        if spool is not None:
            spool.remove()


def _verify_copies(
    backup: Backup,
    report: Report,
    restore_test: bool,
    place: Place | None,
    checks: list[CopyCheck],
    spool: Spool | None,
) -> bool:
    manifest = backup.manifest
    result: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "copies": {}}
    for check in checks:
        result["copies"][check.label] = (
            "ok" if check.matches(manifest) else (check.error or "sha256 mismatch")
        )
        if not check.matches(manifest):
            report.add(
                "backup.verify.checksum",
                Severity.CRITICAL,
                f"{backup.name}: the copy in {check.label} is damaged "
                f"({check.error or 'sha256 mismatch'})",
                f"expected sha256 {manifest['dump']['sha256']}, got {check.sha256 or '-'} "
                f"({check.bytes:,} of {manifest['dump']['bytes']:,} bytes)",
                "Restore from a copy that verifies (another storage), and take a new backup now: "
                "python manage.py backup create",
                rank=1,
                backup=backup.name,
                storage=check.label,
            )
    ok = place is not None and all(c.matches(manifest) for c in checks)
    if place is not None:
        engine = backup_engine.by_name(manifest["engine"])
        try:
            counter = _Counter()
            raw = stream(place, backup, f"{backup.name}: checked", spool)
            result["archive"] = engine.check_archive(_hashed(raw, counter))
            for _ in _hashed(raw, counter):  # pg_restore --list stops at the TOC: read the rest
                pass
            if counter.bytes != manifest["dump"]["raw_bytes"]:
                raise EngineError(
                    f"decompressed to {counter.bytes:,} bytes, the manifest says "
                    f"{manifest['dump']['raw_bytes']:,}"
                )
            result["decompressed_bytes"] = counter.bytes
        except EngineError as exc:
            ok = False
            result["archive_error"] = str(exc)
            report.add(
                "backup.verify.archive",
                Severity.CRITICAL,
                f"{backup.name}: the archive does not read back",
                redact.mask_text(str(exc)),
                "Take a new backup now (python manage.py backup create) and check the storage.",
                rank=2,
                backup=backup.name,
            )
        if ok and restore_test:
            ok = _restore_test(backup, place, engine, report, result, spool)
    elif not checks:
        report.add(
            "backup.verify.missing",
            Severity.CRITICAL,
            f"{backup.name}: no storage holds its dump",
            f"{backup.file} is in none of: {', '.join(p.label for p in storage.configured())}",
            "Take a new backup now: python manage.py backup create",
            rank=1,
            backup=backup.name,
        )
    result["ok"] = ok
    # one damaged copy does not make the backup useless while another copy reads back
    result["usable"] = (
        place is not None
        and "archive_error" not in result
        and (ok or not restore_test or bool((result.get("restore_test") or {}).get("ok")))
    )
    backup.manifest["verification"] = result
    try:
        save_manifest(backup)
    except (OSError, StorageError) as exc:
        logger.warning("could not record verification of %s: %s", backup.name, exc)
    if ok:
        report.add(
            "backup.verify.ok",
            Severity.OK,
            f"{backup.name}: sha256 matches in {len(checks)} storage(s), "
            "archive reads back" + (", restore test passed" if restore_test else ""),
            rank=90,
            backup=backup.name,
        )
    return ok


def _restore_test(
    backup: Backup,
    place: Place,
    engine: Any,
    report: Report,
    result: dict[str, Any],
    spool: Spool | None,
) -> bool:
    started = time.monotonic()
    try:
        counts = engine.restore_test(
            backup.alias or "default",
            stream(place, backup, f"{backup.name}: restore test", spool),
            backup.manifest,
        )
    except EngineError as exc:
        result["restore_test"] = {"ok": False, "error": str(exc)}
        report.add(
            "backup.verify.restore_test",
            Severity.CRITICAL,
            f"{backup.name}: the restore test failed",
            redact.mask_text(str(exc)),
            "Take a new backup now and verify it: python manage.py backup create && "
            "python manage.py backup verify --latest --restore-test",
            rank=1,
            backup=backup.name,
        )
        return False
    seconds = round(time.monotonic() - started, 3)
    mismatches = {
        table: {"manifest": info["rows"], "restored": counts.get(table)}
        for table, info in backup.manifest.get("tables", {}).items()
        if info.get("exact") and counts.get(table) != info["rows"]
    }
    result["restore_test"] = {"ok": not mismatches, "seconds": seconds, "tables": len(counts)}
    if mismatches:
        result["restore_test"]["mismatches"] = mismatches
        report.add(
            "backup.verify.row_counts",
            Severity.CRITICAL,
            f"{backup.name}: restored row counts differ from the manifest",
            ", ".join(f"{t}: {m['manifest']} -> {m['restored']}" for t, m in mismatches.items()),
            "Take a new backup now: python manage.py backup create",
            rank=1,
            backup=backup.name,
        )
        return False
    return True


def verify(
    name: str | None = None,
    alias: str | None = None,
    *,
    latest: bool = False,
    all_backups: bool = False,
    restore_test: bool = False,
) -> Report:
    report = Report("backup verify", kind=REPORT)
    if restore_test:  # restores into a scratch database of the same server
        dbconn.require(alias or "default")
    found = scan()
    report.extend(unreachable_findings(found))
    if all_backups:
        report.extend(bad_manifest_findings(found.bad))
        backups = select(found.backups.values(), alias or None, include_bad=True)
    else:
        backups = [find(name, alias, latest=latest, found=found)]
    if not backups:
        report.add(
            "backup.verify.none",
            Severity.WARNING,
            "there are no backups to verify",
            fix="python manage.py backup create",
        )
    if restore_test:
        sweep_leftovers(report, {b.alias or "default" for b in backups})
    rows = []
    for backup in backups:
        ok = verify_one(backup, report, restore_test)
        test = (backup.verification or {}).get("restore_test") or {}
        rows.append(
            {
                "name": backup.name,
                "ok": ok,
                "copies": ", ".join(
                    f"{k}:{v}" for k, v in (backup.verification or {}).get("copies", {}).items()
                ),
                "restore_test_s": test.get("seconds"),
            }
        )
    report.extras["verified"] = rows
    return report


def sweep_leftovers(
    report: Report, aliases: set[str] | None = None, *, dry_run: bool = False
) -> list[str]:
    """Remove what killed runs left: scratch files under BACKUP_DIR, scratch databases.

    Scratch databases go only when no live run holds them (see the engines' ``sweep_scratch``);
    a database that cannot be reached is skipped (the run's own work reports it).
    """
    removed = [] if dry_run else private_dirs.sweep_scratch()
    for alias in sorted(aliases if aliases is not None else set(connections)):
        try:
            engine = backup_engine.for_vendor(alias)
            removed += engine.sweep_scratch(alias, dry_run=dry_run)
        except Exception as exc:  # an unreachable database: nothing to sweep there now
            logger.info("no scratch sweep of %s: %s", alias, redact.mask_exception(exc))
    if removed:
        report.add(
            "backup.scratch.removed",
            Severity.INFO,
            f"{'Would remove' if dry_run else 'Removed'} {len(removed)} leftover(s) of killed runs",
            ", ".join(removed[:10]),
            rank=80,
            removed=removed,
        )
    return removed


__all__ = ["copy_to_read", "list_backups", "stream", "verify"]
