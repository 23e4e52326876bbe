from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import rollback
from ...backup.restore import stage_note as restore_stage_note
from ...report import CannotRun, Report
from ..base import RailopsCommand, number

ACTIONS = ("assess", "backup", "recover", "guide")


class Command(RailopsCommand):
    help = (
        "assess: damage report and recommendation; backup: fast emergency backup; recover: "
        "emergency backup, then roll the schema back to the last good release (or --backup NAME); "
        "guide: the manual recovery commands for this project."
    )
    changes_data = ("backup", "recover")
    id_prefix = "rollback"

    def interrupted_note(self, options: dict[str, Any]) -> str:
        return restore_stage_note()  # recover --backup restores; empty when nothing was

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument(
            "--to-release",
            type=number(1, 2**63 - 1, integer=True),
            metavar="ID",
            help="recover: the release id to go back to",
        )
        parser.add_argument("--backup", default="", help="recover: restore this backup instead")
        parser.add_argument("--dry-run", action="store_true", help="recover: say, change nothing")
        parser.add_argument("--noinput", "--no-input", action="store_true", help="do not ask")
        parser.add_argument(
            "--accept-data-loss",
            action="store_true",
            help="recover: allow reversing migrations that drop data written since",
        )

    def run(self, **options: Any) -> Report:
        alias, action = options["database"], options["action"]
        recover_only = ("to_release", "backup", "dry_run", "accept_data_loss")
        if action != "recover" and any(options[o] for o in recover_only):
            raise CannotRun(
                f"--to-release/--backup/--dry-run/--accept-data-loss go with recover, not {action}"
            )
        if options["to_release"] is not None and options["backup"]:
            raise CannotRun("give --to-release or --backup, not both")
        if action == "assess":
            return rollback.assess(alias)
        if action == "guide":
            return rollback.guide(alias)
        if action == "backup":
            return rollback.emergency_backup(alias)
        return rollback.recover(
            rollback.RecoverOptions(
                alias=alias,
                to_release=options["to_release"],
                backup=options["backup"],
                dry_run=options["dry_run"],
                accept_data_loss=options["accept_data_loss"],
                confirm=(lambda q: True) if options["noinput"] else self.confirm,
            )
        )

    def confirm(self, question: str) -> bool:
        return self.ask(question, "recover")
