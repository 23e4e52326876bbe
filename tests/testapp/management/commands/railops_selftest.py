"""A command built on the shared base, to test the base itself (exit codes, formats, errors)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from railops_django.management.base import RailopsCommand
from railops_django.report import ACTION, REPORT, CannotRun, Report, Severity


class Command(RailopsCommand):
    help = "Test-only: emits the findings it is asked for."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--finding", action="append", default=[], choices=[s.label for s in Severity]
        )
        parser.add_argument("--action", action="store_true")
        parser.add_argument("--cannot-run", default="")
        parser.add_argument("--crash", action="store_true")
        parser.add_argument("--interrupt", action="store_true", help="as if Ctrl-C were pressed")
        parser.add_argument("--leak", action="store_true", help="put every secret in the output")

    def run(self, **options: Any) -> Report:
        if options["cannot_run"]:
            raise CannotRun(options["cannot_run"])
        db = settings.DATABASES[options["database"]]
        if options["interrupt"]:
            raise KeyboardInterrupt
        if options["crash"]:
            raise RuntimeError(
                f"could not connect to postgres://app:{db.get('PASSWORD')}@db:5432/x"
            )
        report = Report("railops_selftest", kind=ACTION if options["action"] else REPORT)
        for i, label in enumerate(options["finding"]):
            report.add(
                f"selftest.f{i}", Severity.parse(label), f"finding {i}", fix=f"fix {i}", rank=i
            )
        if options["leak"]:
            report.add(
                "selftest.leak",
                Severity.INFO,
                "secrets",
                detail=f"password={db.get('PASSWORD')} key={settings.SECRET_KEY}",
                password=db.get("PASSWORD"),
            )
            report.extras["settings"] = {"SECRET_KEY": settings.SECRET_KEY, "db": dict(db)}
        return report
