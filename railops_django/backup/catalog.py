"""What backups exist: manifests read from every storage, merged by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import zstandard

from .. import redact
from ..db.backup_engine import EngineError
from ..redact import logger
from ..report import CannotRun
from . import storage
from .archive import FORMAT, manifest_name
from .storage import Place


@dataclass
class Backup:
    """A complete backup (its manifest exists) and the storages that hold its manifest."""

    name: str
    manifest: dict[str, Any]
    places: list[str] = field(default_factory=list)

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.manifest["created_at"])

    @property
    def tier(self) -> str:
        return str(self.manifest.get("tier", "manual"))

    @property
    def alias(self) -> str:
        return str(self.manifest.get("alias", ""))

    @property
    def file(self) -> str:
        return str(self.manifest["dump"]["file"])

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

    def as_row(self) -> dict[str, Any]:
        dump = self.manifest["dump"]
        return {
            "name": self.name,
            "tier": self.tier,
            "created_at": self.manifest["created_at"],
            "size": dump["bytes"],
            "copies": ",".join(self.places),
            "verified": _verified_label(self.verification),
        }


def _verified_label(verification: dict[str, Any] | None) -> str:
    if not verification:
        return "no"
    return "yes" if verification.get("ok") else "FAILED"


def _read_manifest(place: Place, filename: str) -> dict[str, Any] | None:
    try:
        with storage.open_file(place, filename) as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        logger.warning("unreadable manifest %s in %s: %s", filename, place.label, exc)
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def catalog(places: list[Place] | None = None) -> dict[str, Backup]:
    """Every complete backup in every storage, by name."""
    places = storage.configured() if places is None else places
    found: dict[str, Backup] = {}
    for place in places:
        for filename in storage.files(place):
            if not filename.endswith(".json") or filename.startswith("."):
                continue
            manifest = _read_manifest(place, filename)
            if manifest is None or manifest_name(manifest.get("name", "")) != filename:
                continue
            backup = found.setdefault(manifest["name"], Backup(manifest["name"], manifest))
            backup.places.append(place.label)
            if manifest.get("verification") and not backup.verification:
                backup.manifest = manifest
    return found


def list_backups(alias: str | None = None, *, include_bad: bool = False) -> list[Backup]:
    """Good backups (of ``alias`` when given), newest first, judged by the manifests' timestamps."""
    backups = [
        b
        for b in catalog().values()
        if (alias is None or b.alias == alias) and (include_bad or b.good)
    ]
    return sorted(backups, key=lambda b: (b.created_at, b.name), reverse=True)


def find(name: str | None, alias: str | None = None, *, latest: bool = False) -> Backup:
    """One backup by name, or the newest good one of ``alias``; CannotRun when there is none."""
    if latest or not name:
        backups = list_backups(alias)
        if not backups:
            raise CannotRun(
                f"no good backup of database {alias or 'any'!r} exists yet: run "
                "'python manage.py backup create' first (and 'backup list' to see what exists)"
            )
        return backups[0]
    everything = catalog()
    if name not in everything:
        known = ", ".join(sorted(everything)[-5:]) or "none"
        raise CannotRun(
            f"no backup named {name!r} (latest: {known}): run 'python manage.py backup list'"
        )
    return everything[name]


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


def save_manifest(backup: Backup) -> None:
    """Rewrite the manifest (e.g. with verification results) in every storage that holds it."""
    body = json.dumps(redact.mask_value(backup.manifest), indent=2, sort_keys=True).encode()
    for label in backup.places:
        place = place_by_label(label)
        if place is not None:
            storage.save_bytes(place, manifest_name(backup.name), body)
