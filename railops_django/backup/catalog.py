"""What backups exist: manifests read from every storage, merged by name."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import zstandard

from .. import redact
from ..db import backup_engine
from ..db.backup_engine import EngineError
from ..db.identity import identity
from ..db.identity import label as identity_label
from ..db.identity import same as same_database
from ..redact import logger
from ..report import CannotRun, Finding, Severity
from . import storage
from .archive import dump_name, manifest_name
from .manifest_schema import ManifestInvalid, validate
from .storage import Place

ROLLBACK_PLAN = ".rollback-plan.json"  # next to the manifest: the way back from a deploy


def rollback_plan_name(name: str) -> str:
    return f"{name}{ROLLBACK_PLAN}"


@dataclass
class Backup:
    """A complete backup (its manifest exists and is valid) and the storages that hold it."""

    name: str
    manifest: dict[str, Any]
    places: list[str] = field(default_factory=list)

    @property
    def created_at(self) -> datetime:
        return _when(self.manifest["created_at"])

    @property
    def tier(self) -> str:
        return str(self.manifest.get("tier", "manual"))

    @property
    def safety_for(self) -> str:
        """What replaced the state this backup keeps, when it is a restore's or a recovery's
        safety copy; empty otherwise."""
        return str(self.manifest.get("safety_for") or "")

    @property
    def alias(self) -> str:
        return str(self.manifest.get("alias", ""))

    @property
    def file(self) -> str:
        """The dump this backup owns: derived from its own name, never read as a path."""
        return dump_name(self.name, backup_engine.by_name(self.manifest["engine"]).SUFFIX)

    @property
    def database(self) -> dict[str, Any] | None:
        """The database it was taken of; None for manifests older than identities."""
        return self.manifest.get("database")

    @property
    def verification(self) -> dict[str, Any] | None:
        return self.manifest.get("verification")

    @property
    def verified(self) -> bool:
        return bool(self.verification and self.verification.get("ok"))

    @property
    def good(self) -> bool:
        """Complete, and not found unusable (no copy reads back) by the last verification."""
        if not self.verification:
            return True
        return bool(self.verification.get("usable", self.verification.get("ok")))

    def belongs_to(self, current: dict[str, Any], alias: str) -> bool:
        """Taken of the database ``current``; an old manifest without identity by alias+vendor."""
        if self.database is None:
            return self.alias == alias and self.manifest.get("vendor") == current.get("vendor")
        return same_database(self.database, current)

    def as_row(self) -> dict[str, Any]:
        dump = self.manifest["dump"]
        return {
            "name": self.name,
            "tier": self.tier,
            "created_at": self.manifest["created_at"],
            "size": dump["bytes"],
            "copies": ",".join(self.places),
            "verified": _verified_label(self.verification),
            "database": identity_label(self.database),
        }


def _verified_label(verification: dict[str, Any] | None) -> str:
    if not verification:
        return "no"
    return "yes" if verification.get("ok") else "FAILED"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class BadManifest:
    """A manifest that was skipped, where, and why."""

    filename: str
    place: str
    problem: str


def _read_manifest(place: Place, filename: str) -> dict[str, Any]:
    try:
        with storage.open_file(place, filename) as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError, RecursionError) as exc:  # nested past the recursion limit
        raise ManifestInvalid(f"it does not read as JSON: {exc}") from None
    return validate(data, filename)


@dataclass
class Scan:
    """Every valid backup by name, and the manifests that were skipped."""

    backups: dict[str, Backup] = field(default_factory=dict)
    bad: list[BadManifest] = field(default_factory=list)
    # storage label -> why it could not be listed (masked); its backups are not in ``backups``
    unreachable: dict[str, str] = field(default_factory=dict)

    def reachable(self, places: list[Place]) -> list[Place]:
        return [p for p in places if p.label not in self.unreachable]


def scan(places: list[Place] | None = None) -> Scan:
    """Read every manifest in every storage; a bad one is recorded and skipped."""
    places = storage.configured() if places is None else places
    found = Scan()
    for place in places:
        try:
            names = storage.files(place)
        except storage.StorageError as exc:
            found.unreachable[place.label] = redact.mask_text(str(exc))
            logger.warning("%s", found.unreachable[place.label])
            continue
        for filename in names:
            if (
                not filename.endswith(".json")
                or filename.startswith(".")
                or filename.endswith(ROLLBACK_PLAN)
            ):
                continue
            try:
                manifest = _read_manifest(place, filename)
            except ManifestInvalid as exc:
                logger.info("invalid manifest %s in %s: %s", filename, place.label, exc)
                found.bad.append(BadManifest(filename, place.label, str(exc)))
                continue
            backup = found.backups.setdefault(manifest["name"], Backup(manifest["name"], manifest))
            backup.places.append(place.label)
            if manifest.get("verification") and not backup.verification:
                backup.manifest = manifest
    return found


def catalog(places: list[Place] | None = None) -> dict[str, Backup]:
    """Every complete backup with a valid manifest in every storage, by name."""
    return scan(places).backups


def bad_manifest_findings(bad: list[BadManifest]) -> list[Finding]:
    """One finding per manifest that was skipped, naming it."""
    return [
        Finding(
            "backup.manifest_invalid",
            Severity.WARNING,
            f"manifest {b.filename} in {b.place} is not valid and was skipped",
            b.problem + ".",
            "Restore the file from another storage's copy, or move it out of the backup "
            "storage; the other backups are listed, verified and aged as usual.",
            rank=10,
            data={"manifest": b.filename, "storage": b.place},
        )
        for b in bad
    ]


def unreachable_findings(found: Scan) -> list[Finding]:
    """One warning per storage that could not be listed, naming it and its error."""
    return [
        Finding(
            "backup.storage_unreachable",
            Severity.WARNING,
            f"storage {label} could not be read: its copies are not counted",
            f"{error}.",
            f"Check storage {label}'s credentials, network and bucket (or remove it from "
            "RAILOPS['BACKUP_STORAGES']); the other storages' backups are listed, restored and "
            "aged as usual, and nothing in it is deleted meanwhile.",
            rank=5,
            data={"storage": label},
        )
        for label, error in found.unreachable.items()
    ]


# A backup dated further ahead than this is dated in the future: a wrong clock or an edited
# manifest. It does not stand for the newest recovery point (report, --latest).
CLOCK_SKEW = timedelta(minutes=5)


def list_backups(alias: str | None = None, *, include_bad: bool = False) -> list[Backup]:
    """Good backups (of the database ``alias`` points at, when given), newest first."""
    return select(catalog().values(), alias, include_bad=include_bad)


def select(
    backups: Iterable[Backup],
    alias: str | None,
    *,
    include_bad: bool = False,
    current: dict[str, Any] | None = None,
) -> list[Backup]:
    """The backups of ``alias``'s database (all when None), newest first; ``current`` is its
    identity when the caller has it already (each lookup may wait for a connection)."""
    if current is None and alias is not None:
        current = identity(alias)
    chosen = [
        b
        for b in backups
        if (current is None or alias is None or b.belongs_to(current, alias))
        and (include_bad or b.good)
    ]
    return sorted(chosen, key=lambda b: (b.created_at, b.name), reverse=True)


def find(
    name: str | None,
    alias: str | None = None,
    *,
    latest: bool = False,
    to_restore: bool = False,
    found: Scan | None = None,
) -> Backup:
    """One backup by name, or the newest good one of ``alias``'s database; CannotRun if none.

    ``to_restore``: the newest one that is not a safety copy of a state a restore or a recovery
    replaced. Otherwise a second ``restore --latest`` restores the first one's safety backup,
    which is the broken state the first one undid. ``found`` is a scan already made (its
    unreachable storages reported by the caller).
    """
    found = scan() if found is None else found
    if latest or not name:
        current = identity(alias) if alias is not None else None
        backups = select(found.backups.values(), alias, current=current)
        if to_restore:
            chosen = [b for b in backups if not b.safety_for]
            if backups and not chosen:
                raise CannotRun(
                    f"every backup of this database is a safety copy taken before a restore or "
                    f"a recovery (the newest, {backups[0].name}, before the "
                    f"{backups[0].safety_for}): restore one by name if that is the state you want"
                )
            backups = chosen
        if not backups:
            where = identity_label(current) if current is not None else "any database"
            others = len(found.backups)
            raise CannotRun(
                f"no good backup of {where} exists yet"
                + (
                    f" ({others} backup(s) of other databases are not used by --latest: "
                    "'backup list --all' shows them)"
                    if others
                    else ""
                )
                + _unread(found)
                + ": run 'python manage.py backup create' first"
            )
        now = datetime.now(UTC)
        dated = [b for b in backups if b.created_at <= now + CLOCK_SKEW]
        if not dated:
            raise CannotRun(
                f"every backup of this database is dated in the future (the newest, "
                f"{backups[0].name}, at {backups[0].manifest['created_at']}): this machine's "
                "clock or the manifests are wrong; check 'date', or restore a backup by name"
            )
        return dated[0]
    if name not in found.backups:
        bad = next((b for b in found.bad if b.filename == manifest_name(name)), None)
        if bad is not None:
            raise CannotRun(
                f"the manifest of backup {name!r} is not valid ({bad.problem}): restore it "
                "from another storage's copy, or pick another backup (backup list)"
            )
        known = ", ".join(sorted(found.backups)[-5:]) or "none"
        raise CannotRun(
            f"no backup named {name!r} (latest: {known}){_unread(found)}: run "
            "'python manage.py backup list'"
        )
    return found.backups[name]


def _unread(found: Scan) -> str:
    if not found.unreachable:
        return ""
    return " (" + "; ".join(found.unreachable.values()) + ")"


def place_by_label(label: str) -> Place | None:
    return next((p for p in storage.configured() if p.label == label), None)


PIECE = 64 << 10


def decompressed(chunks: Iterator[bytes], expect: dict[str, Any] | None = None) -> Iterator[bytes]:
    """zstd-decompress a stream; EngineError on corruption or a truncated frame."""
    decomp = zstandard.ZstdDecompressor().decompressobj()
    try:
        for chunk in chunks:
            # small pieces keep each output (and so memory) small, even for very
            # compressible dumps
            for start in range(0, len(chunk), PIECE):
                out = decomp.decompress(chunk[start : start + PIECE])
                if out:
                    yield out
    except zstandard.ZstdError as exc:
        raise EngineError(f"the archive does not decompress: {exc}") from exc
    if not decomp.eof:
        raise EngineError("the archive is truncated: its zstd frame does not end")


def attach_rollback_plan(name: str, body: bytes) -> list[str]:
    """Store a rollback plan next to backup ``name`` in every storage that holds its manifest.

    Returns the storages written; StorageError when one of them could not be.
    """
    written = []
    for place in storage.configured():
        if storage.exists(place, manifest_name(name)):
            storage.save_bytes(place, rollback_plan_name(name), body)
            written.append(place.label)
    return written


def read_rollback_plan(backup: Backup) -> dict[str, Any] | None:
    """The rollback plan stored next to ``backup``, from the first storage that has one."""
    for label in backup.places:
        place = place_by_label(label)
        if place is None or not storage.exists(place, rollback_plan_name(backup.name)):
            continue
        try:
            with storage.open_file(place, rollback_plan_name(backup.name)) as fh:
                data = json.loads(fh.read())
        except (OSError, ValueError, RecursionError) as exc:
            logger.warning("unreadable rollback plan of %s in %s: %s", backup.name, label, exc)
            continue
        if isinstance(data, dict):
            return data
    return None


def save_manifest(backup: Backup) -> None:
    """Rewrite the manifest (e.g. with verification results) in every storage that holds it."""
    body = json.dumps(redact.mask_value(backup.manifest), indent=2, sort_keys=True).encode()
    for label in backup.places:
        place = place_by_label(label)
        if place is not None:
            storage.save_bytes(place, manifest_name(backup.name), body)
