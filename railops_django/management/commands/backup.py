"""backup [create|list|report|verify|restore|cleanup|daemon]: verified 3-2-1 backups."""

from __future__ import annotations

from typing import IO, Any, cast

from django.core.management.base import CommandParser

from ... import backup, render
from ...backup import catalog, overview, retention, schedule
from ...backup.restore import check_database
from ...backup.restore import stage_note as restore_stage_note
from ...db import connection as dbconn
from ...report import CannotRun, Report
from ..base import RailopsCommand

ACTIONS = ("create", "list", "report", "verify", "restore", "cleanup", "daemon")


class Command(RailopsCommand):
    help = "Create, list, report on, verify, restore and clean up verified 3-2-1 backups."
    changes_data = ("create", "restore", "cleanup", "daemon")
    id_prefix = "backup"

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=ACTIONS, default="create")
        parser.add_argument("name", nargs="?", help="backup name (verify, restore)")
        parser.add_argument("--tier", default="manual", help="create: tier, or auto (by date)")
        parser.add_argument("--schema-only", action="store_true", help="create: schema only")
        parser.add_argument(
            "--allow-partial",
            action="store_true",
            help="create (native engine): back up the migration-managed tables, leave others out",
        )
        parser.add_argument("--if-due", action="store_true", help="create: only when due")
        parser.add_argument("--latest", action="store_true", help="the newest good backup")
        parser.add_argument("--all", action="store_true", dest="all_backups", help="every backup")
        parser.add_argument("--restore-test", action="store_true", help="verify by restoring")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")
        parser.add_argument("--force", action="store_true", help="restore despite migrations")
        parser.add_argument("--dry-run", action="store_true", help="say what would happen")
        parser.add_argument("--once", action="store_true", help="daemon: one run, then exit")
        parser.add_argument(
            "--from-database",
            metavar="IDENTITY",
            help="restore: allow a backup of another database, named by its identity",
        )

    def run(self, **options: Any) -> Report:
        action, alias, name = options["action"], options["database"], options["name"]
        if name and action not in ("verify", "restore"):
            raise CannotRun(f"backup {action} takes no NAME: use backup verify|restore {name}")
        # The raw stream: OutputWrapper would end every "\r" progress update with a newline.
        # Progress on a terminal redraws one line; without one (Railway's logs) a plain line
        # every 10 s; never with --format json.
        stream = cast(IO[str], getattr(self.stderr, "_out", self.stderr))
        progress = render.Progress(stream, enabled=options["format"] == "text")
        if action in ("verify", "restore"):
            with progress.active():
                return self.check_or_restore(action, alias, name, options)
        if action == "create":
            return schedule.create_report(
                alias,
                options["tier"],
                schema_only=options["schema_only"],
                allow_partial=options["allow_partial"],
                if_due=options["if_due"],
                progress=progress,
                dry_run=options["dry_run"],
            )
        if action == "list":  # --all: the backups of every database, not only this one's
            return overview.listing(None if options["all_backups"] else alias)
        if action == "report":
            return overview.report(alias)
        if action == "cleanup":
            return retention.cleanup(dry_run=options["dry_run"], alias=alias)
        return schedule.daemon(alias, once=options["once"])

    def interrupted_note(self, options: dict[str, Any]) -> str:
        if options.get("action") == "restore":
            return restore_stage_note()
        if options.get("action") == "create" and not options.get("dry_run"):
            return (
                "a backup counts only once its manifest is written: 'python manage.py backup "
                "list' shows what is recorded, 'backup cleanup' removes any part left"
            )
        return ""

    def check_or_restore(
        self, action: str, alias: str, name: str | None, options: dict[str, Any]
    ) -> Report:
        if action == "verify":
            if not (name or options["latest"] or options["all_backups"]):
                raise CannotRun("backup verify needs NAME, --latest or --all")
            return backup.verify(
                name,
                alias,
                latest=options["latest"],
                all_backups=options["all_backups"],
                restore_test=options["restore_test"],
            )
        if action == "restore":
            if not (name or options["latest"]):
                raise CannotRun("backup restore needs NAME or --latest: see backup list")
            dbconn.require(alias)  # "this database's backup" needs the live database to say which
            target = catalog.find(name, alias, latest=options["latest"], to_restore=True)
            check_database(target, alias, options["from_database"])
            if options["interactive"] and not options["dry_run"]:
                self.confirm(target.name, alias)
            return backup.restore(
                target.name,
                alias,
                force=options["force"],
                dry_run=options["dry_run"],
                from_database=options["from_database"],
            )
        raise AssertionError(action)

    def confirm(self, name: str, alias: str) -> None:
        question = (
            f"Restore {name} into database {alias!r}? Its current data is replaced "
            "(a safety backup is taken first)."
        )
        if not self.ask(question, "restore"):
            raise CannotRun("restore cancelled: nothing was changed")
