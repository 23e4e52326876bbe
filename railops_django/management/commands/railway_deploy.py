from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import deploy
from ...report import Report
from ..base import RailopsCommand, add_migration_arguments


class Command(RailopsCommand):
    help = (
        "Railway's pre-deploy pipeline: prerequisites, backup, release record, safe_migrate "
        "(dry run then real), collectstatic, health. Exit 0 deployed, 2 failed."
    )
    changes_data = True
    id_prefix = "deploy"

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skip-migration", action="store_true", help="Do not migrate.")
        parser.add_argument("--skip-collectstatic", action="store_true", help="No collectstatic.")
        parser.add_argument("--no-backup", action="store_true", help="No pre-deploy backup.")
        parser.add_argument(
            "--require-offsite-backup",
            action="store_true",
            help="Fail when the backup would only go to this container's disk.",
        )
        add_migration_arguments(parser)  # passed on to safe_migrate, parsed the same way
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what each step would do; change nothing."
        )
        parser.add_argument("--history", action="store_true", help="List the recorded releases.")

    def run(self, **options: Any) -> Report:
        if options["history"]:
            return deploy.history(options["database"])
        return deploy.run(
            deploy.Options(
                alias=options["database"],
                skip_migration=options["skip_migration"],
                skip_collectstatic=options["skip_collectstatic"],
                no_backup=options["no_backup"],
                require_offsite_backup=options["require_offsite_backup"],
                dry_run=options["dry_run"],
                allow_unsafe=tuple(options["allow_unsafe"]),
                lock_timeout_ms=options["lock_timeout"],
                statement_timeout_ms=options["statement_timeout"],
                retries=options["retries"],
            )
        )
