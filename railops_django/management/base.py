"""The one base every railops command uses: options, rendering, exit codes, expected errors.

A command subclass declares its own arguments and implements ``run(**options) -> Report``.
Everything else lives here, so no command repeats it:

- ``--format`` (text/json, plus any extra formats the command lists) and ``--database``;
- rendering through ``render.py`` (which masks secrets), colour only on a TTY;
- exit codes from the Report (docs/architecture.md);
- ``CannotRun`` (and bad command-line input) becomes one masked line on stderr and exit 3;
- an unexpected exception prints a *masked* traceback and exits 2.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from .. import redact, render
from ..db import target
from ..report import CannotRun, ExitCode, Report


class RailopsParser(CommandParser):
    """Bad command-line input exits 3 with one line (docs/architecture.md); argparse uses 2."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(ExitCode.CANNOT_RUN, f"{self.prog}: error: {message} (see --help)\n")
        raise CommandError(f"Error: {message}", returncode=ExitCode.CANNOT_RUN)


class RailopsCommand(BaseCommand):
    formats: tuple[str, ...] = render.FORMATS
    uses_database = True
    changes_data: bool | tuple[str, ...] = False  # True, or the actions (options["action"]) that do

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = RailopsParser  # subparsers inherit the class (CommandParser does that)
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format",
            choices=self.formats,
            default="text",
            help="Output format. json prints exactly one JSON object on stdout.",
        )
        if self.uses_database:
            parser.add_argument(
                "--database",
                default=DEFAULT_DB_ALIAS,
                help="The database alias from settings.DATABASES (default: %(default)s).",
            )
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Subclasses add their own arguments here."""

    def run(self, **options: Any) -> Report:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if self.uses_database and options["database"] not in connections:
                aliases = ", ".join(connections) or "none"
                raise CannotRun(
                    f"unknown database alias {options['database']!r}: use one of {aliases}"
                )
            acts = self.changes_data
            if acts is True or (isinstance(acts, tuple) and options.get("action") in acts):
                target.refuse_on_mismatch(options["database"])  # not the database meant: exit 3
            report = self.run(**options)
        except CannotRun as exc:
            self.fail(str(exc))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            self.stderr.write(redact.mask_traceback(exc), ending="")
            self.stderr.write(
                f"{self.command_name()}: internal error: {redact.mask_exception(exc)}"
            )
            sys.exit(ExitCode.CRITICAL)
        self.emit(report, options)
        code = report.exit_code
        if code:
            sys.exit(code)

    def emit(self, report: Report, options: dict[str, Any]) -> None:
        color = (
            options["format"] == "text"
            and not options.get("no_color")
            and (options.get("force_color") or self.stdout.isatty())
        )
        self.stdout.write(render.render(report, options["format"], color=bool(color)), ending="")

    def fail(self, message: str) -> NoReturn:
        line = " ".join(redact.mask_text(message).split())
        self.stderr.write(f"{self.command_name()}: {line}")
        sys.exit(ExitCode.CANNOT_RUN)

    def command_name(self) -> str:
        return self.__module__.rsplit(".", 1)[-1]

    def progress_enabled(self, options: dict[str, Any]) -> bool:
        """Progress lines go to stderr on a TTY only, and never with a machine format."""
        return options.get("format") == "text" and self.stderr.isatty()


def comma_list(value: str) -> list[str]:
    """argparse type for ``--flag A,B``."""
    return [item.strip() for item in value.split(",") if item.strip()]
