"""railway_diagnose: why does the deployed app answer 500/400/502, and what to fix first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from ... import diagnose, render
from ...management.base import RailopsCommand
from ...report import Report


class Command(RailopsCommand):
    help = (
        "Find the real cause of a Railway 500/400/502: environment, settings, database "
        "(pending migrations, schema drift), static files, the WSGI import, the start command, "
        "and requests replayed the way Railway's edge sends them. Most urgent fix first."
    )
    # A diagnosis must run whatever state the project is in: it runs Django's system checks
    # itself (diagnose.checks) and reports each message, errors included, as a finding.
    requires_system_checks: list[str] = []

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            action="append",
            default=[],
            metavar="PATH",
            help="Also replay GET PATH through the edge (repeatable), e.g. --url /admin/login/.",
        )
        parser.add_argument(
            "--skip-requests",
            action="store_true",
            help="Do not replay requests (no view code runs).",
        )
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="Also write the masked report to FILE (Markdown for .md, else JSON) for support.",
        )

    def run(self, **options: Any) -> Report:
        report = diagnose.run(
            alias=options["database"],
            urls=options["url"],
            skip_requests=options["skip_requests"],
        )
        if options["output"]:
            render.write_report_file(report, Path(options["output"]))
        return report
