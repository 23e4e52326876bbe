"""The one base every railops command uses: options, rendering, exit codes, expected errors.

A command subclass declares its own arguments and implements ``run(**options) -> Report``.
Everything else lives here, so no command repeats it:

- ``--format`` (text/json, plus any extra formats the command lists) and ``--database``;
- rendering through ``render.py`` (which masks secrets), colour only on a TTY;
- exit codes from the Report (docs/architecture.md);
- ``CannotRun`` (and bad command-line input) becomes one masked line on stderr and exit 3;
- a failed system check (a bad ``RAILOPS`` setting above all) is bad input too: one line that
  names the setting, the problem and the fix, and exit 3, never Django's ``SystemCheckError``;
- a failed database connection becomes the classified finding (db/connection.py) in a Report,
  exit 2, so ``--format json`` still prints one JSON object;
- Ctrl-C (KeyboardInterrupt) is one line on stderr, ``<command>: interrupted``, and exit 130;
- an unexpected exception prints a *masked* traceback and exits 2; with ``--format json``,
  stdout still gets its JSON object (one ``<command>.internal_error`` finding).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from django.conf import settings
from django.core import checks
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    SystemCheckError,
)
from django.db import DEFAULT_DB_ALIAS, connections

from .. import conf, redact, render
from ..db import connection as dbconn
from ..db import target
from ..report import CannotRun, ExitCode, Report, Severity


def cannot_run_report(command: str, line: str) -> Report:
    """The JSON answer of a command that could not run: exit 3, the stderr line as a finding."""
    report = Report(command, cannot_run=True)
    report.add(f"{command}.cannot_run", Severity.CRITICAL, line, rank=0)
    return report.finish()


def internal_error_report(command: str, exc: BaseException) -> Report:
    """The JSON answer of a command that crashed: exit 2, the masked error as one finding (the
    traceback stays on stderr, never in the report)."""
    report = Report(command)
    report.add(
        f"{command}.internal_error",
        Severity.CRITICAL,
        f"internal error: {redact.mask_exception(exc)}",
        detail="railops stopped on an error it does not expect; the traceback is on stderr.",
        fix="Report it with the traceback from stderr.",
        rank=0,
    )
    return report.finish()


def wants_json(argv: list[str]) -> bool:
    """Whether the command line asks for --format json (the last --format given wins)."""
    chosen = ""
    for flag, value in itertools.pairwise([*argv, ""]):
        if flag == "--format":
            chosen = value
        elif flag.startswith("--format="):
            chosen = flag.partition("=")[2]
    return chosen == "json"


class RailopsParser(CommandParser):
    """Bad command-line input exits 3 with one line, (docs/architecture.md; argparse uses 2); with
    ``--format json`` among the arguments, stdout still gets its one JSON object."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self.railops_argv = [str(a) for a in (sys.argv[1:] if args is None else args)]
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        line = f"{self.prog}: error: {message} (see --help)"
        if self.called_from_command_line:
            if wants_json(getattr(self, "railops_argv", [])):
                report = cannot_run_report(self.prog.split()[-1], line)
                sys.stdout.write(render.render(report, "json"))
            self.exit(ExitCode.CANNOT_RUN, line + "\n")
        raise CommandError(f"Error: {message}", returncode=ExitCode.CANNOT_RUN)


class RailopsCommand(BaseCommand):
    formats: tuple[str, ...] = render.FORMATS
    uses_database = True
    changes_data: bool | tuple[str, ...] = False  # True, or the actions (options["action"]) that do
    id_prefix = ""  # of the connection-failure finding; default: the command's name

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

    def check(self, *args: Any, **kwargs: Any) -> None:
        """Django's system checks, with a failure as this command's bad input: one line, exit 3.

        ``manage.py check`` still lists every message; here the first RAILOPS problem (or, when
        only other apps fail, the first of theirs) is named with its id, and the line points at
        ``manage.py check``. Warnings are printed as Django prints them.
        """
        try:
            super().check(*args, **kwargs)
        except SystemCheckError:
            raise CannotRun(self._check_failure_line()) from None
        except Exception as exc:  # a check that crashed: a URLconf or model import failing
            raise CannotRun(
                "Django's system checks could not run: "
                f"{redact.mask_exception(exc)}: run 'python manage.py railway_diagnose' "
                "to find the cause"
            ) from None

    def _check_failure_line(self) -> str:
        silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", []))
        ours = [p for p in conf.problems() if p.id not in silenced]
        if ours:
            return ours[0].line(more=len(ours) - 1)
        serious = [m for m in checks.run_checks() if m.is_serious() and not m.is_silenced()]
        count = f"{len(serious)} errors" if len(serious) > 1 else "an error"
        first = f" ({serious[0].id}: {serious[0].msg.rstrip('.')})" if serious else ""
        return (
            f"Django's system checks found {count}{first}: fix it ('python manage.py check' "
            "lists every error), or run with --skip-checks"
        )

    def execute(self, *args: Any, **options: Any) -> str | None:
        """Django's execute (system checks, then handle), with CannotRun from either as exit 3."""
        try:
            return super().execute(*args, **options)
        except CannotRun as exc:
            self.fail(str(exc), options.get("format", "text"))
        except KeyboardInterrupt:
            self.interrupted(options)

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options.get("database") or DEFAULT_DB_ALIAS
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
        except (CannotRun, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            failure = dbconn.connection_failure(exc, alias, self.id_prefix or self.command_name())
            if failure is None:
                self.crash(exc, options.get("format", "text"))
            report = Report(self.command_name(), findings=[failure]).finish()
        self.emit(report, options)
        code = report.exit_code
        if code:
            sys.exit(code)

    def crash(self, exc: BaseException, fmt: str = "text") -> NoReturn:
        """An unexpected error: a masked traceback and one line on stderr, then exit 2; with
        --format json, the JSON report (one ``<command>.internal_error`` finding) as well."""
        if fmt == "json":
            report = internal_error_report(self.command_name(), exc)
            self.stdout.write(render.render(report, "json"), ending="")
        self.stderr.write(redact.mask_traceback(exc), ending="")
        self.stderr.write(f"{self.command_name()}: internal error: {redact.mask_exception(exc)}")
        sys.exit(ExitCode.CRITICAL)

    def interrupted(self, options: dict[str, Any]) -> NoReturn:
        """Ctrl-C: one line on stderr and exit 130, never a KeyboardInterrupt traceback; with
        --format json, the JSON report (one ``<command>.interrupted`` finding) as well."""
        note = self.interrupted_note(options)
        line = f"{self.command_name()}: interrupted" + (f": {note}" if note else "")
        if options.get("format") == "json":
            report = Report(self.command_name(), interrupted=True)
            report.add(f"{self.command_name()}.interrupted", Severity.CRITICAL, line, rank=0)
            self.stdout.write(render.render(report.finish(), "json"), ending="")
        self.stderr.write(line)
        sys.exit(ExitCode.INTERRUPTED)

    def interrupted_note(self, options: dict[str, Any]) -> str:
        """What stays true after Ctrl-C, for the interrupted line; subclasses say it."""
        return ""

    def emit(self, report: Report, options: dict[str, Any]) -> None:
        color = (
            options["format"] == "text"
            and not options.get("no_color")
            and (options.get("force_color") or self.stdout.isatty())
        )
        self.stdout.write(render.render(report, options["format"], color=bool(color)), ending="")

    def fail(self, message: str, fmt: str = "text") -> NoReturn:
        """One masked line on stderr and exit 3; with --format json, the JSON object as well."""
        line = f"{self.command_name()}: " + " ".join(redact.mask_text(message).split())
        if fmt == "json":
            self.stdout.write(
                render.render(cannot_run_report(self.command_name(), line), "json"), ending=""
            )
        self.stderr.write(line)
        sys.exit(ExitCode.CANNOT_RUN)

    def command_name(self) -> str:
        return self.__module__.rsplit(".", 1)[-1]

    def ask(self, question: str, what: str) -> bool:
        """Ask a yes/no question on the terminal; with no terminal, CannotRun (exit 3) that says
        to use --noinput, never a prompt that waits or an EOFError."""
        unattended = f"use --noinput to {what} unattended"
        if not sys.stdin.isatty():
            raise CannotRun(f"no terminal to confirm on: {unattended}")
        try:
            answer = input(f"{question} [y/N] ")
        except EOFError:
            raise CannotRun(f"no answer to the confirmation: {unattended}") from None
        return answer.strip().lower() in ("y", "yes")

    def progress_enabled(self, options: dict[str, Any]) -> bool:
        """Progress lines go to stderr on a TTY only, and never with a machine format."""
        return options.get("format") == "text" and self.stderr.isatty()


def comma_list(value: str) -> list[str]:
    """argparse type for ``--flag A,B``."""
    return [item.strip() for item in value.split(",") if item.strip()]


def number(low: float, high: float, *, integer: bool = False) -> Callable[[str], Any]:
    """argparse type for every numeric flag: finite and within ``low..high`` (the same rule as
    the RAILOPS numbers, ``conf.number_problem``), so NaN, inf and 1e400 are bad input."""
    kind = "an integer" if integer else "a number"

    def parse(text: str) -> int | float:
        try:
            value: int | float = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {kind} from {conf.fmt_number(low)} to {conf.fmt_number(high)}"
            ) from None
        problem = conf.number_problem(value, low, high)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = "integer" if integer else "number"
    return parse


def setting_number(name: str) -> Callable[[str], Any]:
    """argparse type for a flag that overrides RAILOPS[name]: the key's own range and type."""
    key = conf.KEYS[name]
    assert key.bounds is not None, name
    return number(*key.bounds, integer=float not in key.types)


def add_migration_arguments(parser: CommandParser) -> None:
    """safe_migrate's risk and timeout flags; railway_deploy passes the same ones on."""
    parser.add_argument(
        "--allow-unsafe",
        type=comma_list,
        default=[],
        metavar="RULE[,RULE]",
        help="Accept these lint rules for this run.",
    )
    parser.add_argument(
        "--lock-timeout", type=setting_number("LOCK_TIMEOUT_MS"), metavar="MS", help="Default 2000."
    )
    parser.add_argument(
        "--statement-timeout",
        type=setting_number("STATEMENT_TIMEOUT_MS"),
        metavar="MS",
        help="Default 0 (off).",
    )
    parser.add_argument(
        "--retries", type=setting_number("MIGRATION_RETRIES"), metavar="N", help="Default 5."
    )
