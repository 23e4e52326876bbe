"""manage.py safe_migrate: apply migrations with no downtime, safe across replicas."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...migrate import run
from ...report import Report
from ..base import RailopsCommand, add_migration_arguments


class Command(RailopsCommand):
    help = (
        "Apply pending migrations safely: replica lock, lint, pre-flight, backup, rollback "
        "plan, lock_timeout with retries, automatic rollback on failure."
    )
    changes_data = True
    id_prefix = "migrate"

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app_label", nargs="?", help="Only this app (and its dependencies).")
        parser.add_argument(
            "migration_name", nargs="?", help="Migrate the app to this migration ('zero' too)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Plan, SQL, lint, pre-flight; change nothing."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run the whole pipeline even if nothing is pending.",
        )
        parser.add_argument("--no-backup", action="store_true", help="Skip the backup.")
        parser.add_argument(
            "--schema-only-backup", action="store_true", help="Back up the schema only."
        )
        add_migration_arguments(parser)
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Never prompt.",
        )

    def run(self, **options: Any) -> Report:
        return run(
            options["database"],
            options["app_label"],
            options["migration_name"],
            dry_run=options["dry_run"],
            force=options["force"],
            backup=not options["no_backup"],
            schema_only_backup=options["schema_only_backup"],
            allow_unsafe=options["allow_unsafe"],
            lock_timeout_ms=options["lock_timeout"],
            statement_timeout_ms=options["statement_timeout"],
            retries=options["retries"],
            interactive=options["interactive"],
            progress=self.stderr.write if self.progress_enabled(options) else None,
        )
