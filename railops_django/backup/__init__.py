"""Streaming, verified, 3-2-1 backups with GFS retention, and restores that work.

Public API (used by emergency_rollback and railway_deploy):

- ``create(alias="default", tier="manual", *, schema_only=False) -> BackupResult``
  (raises ``CannotRun`` for a missing prerequisite, ``BackupFailed`` when it could not finish);
- ``list_backups(alias=None) -> list[Backup]``: good backups, newest first;
- ``restore(name, alias="default", *, force=False) -> Report``;
- ``verify(name=None, alias=None, *, latest=False, all_backups=False, restore_test=False)``.
"""

from __future__ import annotations

from .archive import TIERS, BackupFailed, BackupResult, create
from .catalog import Backup, list_backups
from .restore import restore
from .verify import verify

__all__ = [
    "TIERS",
    "Backup",
    "BackupFailed",
    "BackupResult",
    "create",
    "list_backups",
    "restore",
    "verify",
]
