"""The release ledger: which code, which migration state and which backup each deploy left.

A deploy onto a fresh database runs before the ledger's own table exists (the migrate step
creates it), so the release is kept in memory and written as soon as the table is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from .. import redact
from ..migrate import current_state
from ..models import Release, table_ready
from ..redact import logger


def ledger_ready(alias: str) -> bool:
    return table_ready(Release, alias)


@dataclass
class ReleaseRecord:
    """A release being deployed; saved to the ledger when it can be."""

    alias: str
    git_sha: str = ""
    deployment_id: str = ""
    environment: str = ""
    migrations_before: dict[str, str] = field(default_factory=dict)
    backup_name: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    row: Release | None = None

    def save(self, **changes: Any) -> Release | None:
        """Create or update the ledger row; None while the ledger table does not exist yet."""
        if self.row is None:
            if not ledger_ready(self.alias):
                return None
            self.row = Release(
                git_sha=self.git_sha,
                railway_deployment_id=self.deployment_id,
                railway_environment=self.environment,
                migrations_before=self.migrations_before,
            )
        self.row.backup_name = self.backup_name
        self.row.step_log = self.steps
        for key, value in changes.items():
            setattr(self.row, key, value)
        self.row.save(using=self.alias)
        return self.row

    def finish(self, status: str, failed_step: str = "") -> Release | None:
        """Record the outcome. A failed deploy whose database cannot be reached (the report
        already says why) leaves no row rather than a second, unexplained crash."""
        try:
            return self.save(
                status=status,
                failed_step=failed_step,
                finished_at=timezone.now(),
                migrations_after=current_state(self.alias),
            )
        except DatabaseError as exc:
            if status != Release.Status.FAILED:
                raise
            logger.warning("release not recorded: %s", redact.mask_exception(exc))
            return None


def recent(alias: str, limit: int = 20) -> list[dict[str, Any]]:
    if not ledger_ready(alias):
        return []
    rows = Release.objects.using(alias).order_by("-started_at", "-id")[:limit]
    return [
        {
            "id": r.pk,
            "started": r.started_at.isoformat(timespec="seconds"),
            "status": r.status,
            "git_sha": r.git_sha[:12],
            "deployment": r.railway_deployment_id,
            "backup": r.backup_name,
            "failed_step": r.failed_step,
        }
        for r in rows
    ]
