from __future__ import annotations

import json
import os
import subprocess

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder


@pytest.fixture
def migrate_apps(settings, transactional_db, tmp_path):
    """Install test apps from tests/migrate/apps for one test; unapply them afterwards."""
    installed: list[str] = []
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path / "backups"), "MIGRATION_LOCK_WAIT": 5}

    def install(*labels: str) -> None:
        installed.extend(labels)
        settings.INSTALLED_APPS = [
            *settings.INSTALLED_APPS,
            *(f"tests.migrate.apps.{label}" for label in labels),
        ]

    yield install
    applied = MigrationRecorder(connections["default"]).applied_migrations()
    for label in reversed(installed):
        if any(app == label for app, _ in applied):
            call_command("migrate", label, "zero", verbosity=0)


def schema_dump() -> str:
    """The test database's schema (pg_dump --schema-only / sqlite_master) plus django_migrations."""
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        rows = cursor.fetchall()
        if connection.vendor == "sqlite":
            cursor.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            schema = json.dumps(cursor.fetchall())
        else:
            sd = connection.settings_dict
            schema = subprocess.run(
                [
                    "pg_dump",
                    "--schema-only",
                    "-h",
                    sd["HOST"] or "127.0.0.1",
                    "-p",
                    str(sd["PORT"] or 5432),
                    "-U",
                    sd["USER"] or "postgres",
                    sd["NAME"],
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PGPASSWORD": sd["PASSWORD"] or ""},
                timeout=30,
            ).stdout
            # pg_dump 15.14+ wraps the dump in \restrict KEY ... \unrestrict KEY, a random key.
            schema = "\n".join(
                line
                for line in schema.splitlines()
                if not line.startswith(("\\restrict", "\\unrestrict"))
            )
    return schema + "\n" + json.dumps(rows)
