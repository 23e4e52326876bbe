"""The release ledger: one row per ``railway_deploy`` run; ``emergency_rollback`` reads it."""

from __future__ import annotations

from typing import Any

from django.db import connections, models


def table_ready(model: Any, alias: str) -> bool:
    """True when ``model``'s table exists in ``alias``: a deploy onto a fresh database runs
    before migrate creates it, and a restored database may predate it."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        return model._meta.db_table in connection.introspection.table_names(cursor)


class Release(models.Model):
    class Status(models.TextChoices):
        STARTED = "started"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        ROLLED_BACK = "rolled_back"

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    git_sha = models.CharField(max_length=64, blank=True, default="")
    railway_deployment_id = models.CharField(max_length=100, blank=True, default="")
    railway_environment = models.CharField(max_length=100, blank=True, default="")
    migrations_before = models.JSONField(default=dict, blank=True)  # app label -> leaf or "zero"
    migrations_after = models.JSONField(default=dict, blank=True)
    backup_name = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STARTED)
    failed_step = models.CharField(max_length=50, blank=True, default="")
    step_log = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"release {self.pk} ({self.status}, {self.git_sha[:12] or 'no sha'})"


class HealthSample(models.Model):
    """One ``db_health --record`` measurement: the dashboard's history charts read these."""

    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    database = models.CharField(max_length=100, default="default")  # the alias measured
    vendor = models.CharField(max_length=30, blank=True, default="")
    status = models.CharField(max_length=20, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)  # series key -> number
    largest_tables = models.JSONField(default=list, blank=True)  # [{table, total_bytes}]

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"health sample {self.pk} of {self.database} at {self.recorded_at:%Y-%m-%d %H:%M}"
