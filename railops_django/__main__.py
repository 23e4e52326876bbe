"""``python -m railops_django``: what must work even when the project itself does not start.

``diagnose``: the diagnosis, even when the settings do not import.

``manage.py railway_diagnose`` cannot start when the settings module raises, which is exactly
when a Railway deploy crashes at boot. This entry point imports the settings itself. When that
fails it reports the file:line and the masked exception, then runs every probe that still can:
the environment variables, the start command, and a database connection from ``DATABASE_URL``.

``unpack ARCHIVE -o FILE``: a backup archive back to the dump its engine wrote (for pg_restore,
or the SQLite file), with no settings and no database: for restoring by hand.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import types
from pathlib import Path
from typing import NoReturn

from . import redact, render
from .report import ExitCode, Finding, Report, Severity

_MANAGE_SETTINGS = re.compile(r"DJANGO_SETTINGS_MODULE['\"],\s*['\"]([\w.]+)['\"]")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.CANNOT_RUN, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m railops_django")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    diag = sub.add_parser("diagnose", help="railway_diagnose, also when the settings are broken")
    diag.add_argument(
        "--settings",
        help="settings module (default: DJANGO_SETTINGS_MODULE, else the one ./manage.py names)",
    )
    diag.add_argument("--pythonpath", help="a directory to add to sys.path")
    diag.add_argument("--format", choices=render.FORMATS, default="text")
    diag.add_argument("--output", metavar="FILE")
    diag.add_argument("--url", action="append", default=[], metavar="PATH")
    diag.add_argument("--database", default="default")
    diag.add_argument("--skip-requests", action="store_true")
    unpack = sub.add_parser("unpack", help="a backup archive (.zst) back to its plain dump")
    unpack.add_argument("archive", type=Path, help="the backup's .zst file")
    unpack.add_argument("-o", "--output", type=Path, help="where to write it (default: stdout)")
    return parser


def settings_module_name(explicit: str | None, cwd: Path) -> str:
    if explicit:
        return explicit
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return os.environ["DJANGO_SETTINGS_MODULE"]
    manage = cwd / "manage.py"
    if manage.is_file():
        match = _MANAGE_SETTINGS.search(manage.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)
    return ""


def import_failure(module: str, exc: BaseException, phase: str) -> Finding:
    from .diagnose.project import project_frame

    where = project_frame(exc)
    tb = [
        line for line in redact.mask_traceback(exc).strip().splitlines() if "<frozen " not in line
    ]
    if isinstance(exc, ModuleNotFoundError) and exc.name and module.startswith(exc.name):
        return Finding(
            id="diagnose.env.settings_module",
            severity=Severity.CRITICAL,
            title=f"DJANGO_SETTINGS_MODULE={module} cannot be found",
            detail=redact.mask_exception(exc),
            fix="Set DJANGO_SETTINGS_MODULE to your settings' dotted path (e.g. "
            "config.settings), and run from the directory that holds manage.py.",
            rank=0,
            data={"module": module},
        )
    what = f"settings module {module}" if phase == "settings" else f"apps of {module}"
    message = redact.mask_exception(exc)
    fix = (
        f"Fix {where}: every process (gunicorn, migrate, the healthcheck) dies here, so "
        "Railway shows a crashed deploy or 502. Read variables with a default "
        "(env('X', default=...)) and do no network I/O at import."
    )
    if phase == "apps" and isinstance(exc, ModuleNotFoundError) and exc.name:
        fix = (
            f"Add the package that provides {exc.name!r} to requirements.txt (or pyproject), "
            f"or remove it from INSTALLED_APPS ({where}); every process dies at "
            "django.setup() until then."
        )
    return Finding(
        id=f"diagnose.env.{phase}_import",
        severity=Severity.CRITICAL,
        title=f"The {what} cannot be imported: {message[:160]} ({where})",
        detail=f"{message}\nat {where}\n" + "\n".join(tb[-8:]),
        fix=fix,
        rank=0,
        data={"module": module, "where": where},
    )


def _fallback_database(report: Report) -> None:
    """With no usable settings, still try DATABASE_URL with railops' connect timeout."""
    url = os.environ.get("DATABASE_URL", "")
    if not url or "${{" in url:
        return
    import dj_database_url
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        INSTALLED_APPS=[],
        DATABASES={"default": dj_database_url.parse(url)},
        USE_TZ=True,
    )
    django.setup()
    from .diagnose import database
    from .diagnose.runner import Context

    report.extend(database.connect(Context()))


def diagnose_broken(module: str, exc: BaseException | None, phase: str) -> Report:
    from .diagnose import deploy_config, environment
    from .diagnose.application import start_command_findings

    report = Report("railway_diagnose")
    if exc is None:
        report.add(
            "diagnose.env.settings_module",
            Severity.CRITICAL,
            "DJANGO_SETTINGS_MODULE is not set and no ./manage.py names one",
            fix="Run from the directory that holds manage.py, or pass --settings "
            "config.settings (or set DJANGO_SETTINGS_MODULE).",
            rank=0,
        )
    else:
        report.findings.append(import_failure(module, exc, phase))
    report.extend(environment.environment_findings())
    report.extend(start_command_findings(deploy_config.read(None)))
    if phase == "settings":
        try:
            _fallback_database(report)
        except Exception as db_exc:
            report.add(
                "diagnose.database.fallback_failed",
                Severity.INFO,
                "Could not try DATABASE_URL without the settings",
                detail=redact.mask_exception(db_exc),
                rank=99,
            )
    report.add(
        "diagnose.skipped",
        Severity.INFO,
        "Settings, migrations, schema, static files and the edge replay were not checked",
        detail="They need the settings to import.",
        fix="Fix the import error above, then run this again.",
        rank=99,
    )
    return report.finish()


def guard_manage_startup(argv: list[str]) -> None:
    """Let ``manage.py railway_diagnose`` answer when another app breaks ``django.setup()``.

    Django imports every app before it looks for the command, so when an INSTALLED_APPS entry
    after railops_django does not import, a models module raises or an app's ``ready()``
    fails, ``railway_diagnose`` itself never runs. ``apps.py`` calls this as railops_django is
    imported: for ``railway_diagnose`` only, an uncaught exception becomes the diagnosis of
    ``python -m railops_django diagnose`` (on stdout, in the requested format) and one stderr
    line that points at it, instead of a traceback. What fails before railops_django is
    imported (the settings module, an earlier INSTALLED_APPS entry) Django reports itself.
    """
    if argv[1:2] != ["railway_diagnose"]:
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: types.TracebackType | None) -> None:
        from django.apps import apps

        if not isinstance(exc, Exception) or apps.ready:  # not a start-up failure
            previous(kind, exc, tb)
            return
        module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
        try:
            report = diagnose_broken(module, exc, "apps")
            sys.stderr.write(
                f"railway_diagnose: Django cannot start ({redact.mask_exception(exc)}); "
                "this is the diagnosis of 'python -m railops_django diagnose', which also "
                "works when manage.py fails earlier\n"
            )
            sys.stdout.write(render.render(report, _format_option(argv), color=False))
            code = int(report.exit_code)
        except Exception:
            previous(kind, exc, tb)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # an excepthook cannot set the exit status otherwise

    sys.excepthook = hook


def _format_option(argv: list[str]) -> str:
    for number, arg in enumerate(argv):
        value = arg.partition("=")[2] if arg.startswith("--format=") else ""
        if arg == "--format" and number + 1 < len(argv):
            value = argv[number + 1]
        if value in render.FORMATS:
            return value
    return "text"


def unpack(archive: Path, output: Path | None) -> int:
    """Decompress ``archive`` and undo its layout into ``output`` (0600) or stdout."""
    from .backup.catalog import decompressed
    from .backup.columns import unpacked
    from .db.backup_engine import EngineError

    if not archive.is_file():
        sys.stderr.write(f"unpack: no such file: {archive}\n")
        return ExitCode.CANNOT_RUN
    if output is None and sys.stdout.isatty():
        sys.stderr.write("unpack: the dump is binary: give -o FILE, or pipe it\n")
        return ExitCode.CANNOT_RUN
    try:
        out = (
            os.fdopen(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
            if output is not None
            else sys.stdout.buffer
        )
    except FileExistsError:
        sys.stderr.write(f"unpack: {output} exists; give another -o\n")
        return ExitCode.CANNOT_RUN
    except OSError as exc:  # no such directory, not writable, a directory...
        reason = exc.strerror or type(exc).__name__
        sys.stderr.write(f"unpack: cannot write {output}: {reason}; give -o a writable path\n")
        return ExitCode.CANNOT_RUN
    failure: Exception | None = None
    try:
        with open(archive, "rb") as source:
            for piece in unpacked(decompressed(iter(lambda: source.read(1 << 20), b""))):
                out.write(piece)
        out.flush()
    except (EngineError, OSError) as exc:
        failure = exc
    finally:
        if output is not None:
            out.close()
    if failure is None:
        return ExitCode.OK
    sys.stderr.write(f"unpack: {archive}: {failure}\n")
    if output is not None:
        output.unlink(missing_ok=True)  # half a dump is not a dump
    return ExitCode.CRITICAL


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "unpack":
        return unpack(args.archive, args.output)
    cwd = Path.cwd()
    if args.pythonpath:
        sys.path.insert(0, args.pythonpath)
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    module = settings_module_name(args.settings, cwd)
    report: Report | None = None
    if not module:
        report = diagnose_broken("", None, "settings")
    else:
        os.environ["DJANGO_SETTINGS_MODULE"] = module
        import django
        from django.conf import settings

        phase = "settings"
        try:
            _ = settings.INSTALLED_APPS  # imports the settings module, and nothing else yet
            phase = "apps"
            django.setup()
        except Exception as exc:
            report = diagnose_broken(module, exc, phase)
    if report is None:
        from django.db import connections

        from .diagnose import run

        if args.database not in connections:
            sys.stderr.write(f"railway_diagnose: unknown database alias {args.database!r}\n")
            return ExitCode.CANNOT_RUN
        report = run(alias=args.database, urls=args.url, skip_requests=args.skip_requests)
    if args.output:
        render.write_report_file(report, Path(args.output))
    sys.stdout.write(render.render(report, args.format, color=sys.stdout.isatty()))
    return int(report.exit_code)


if __name__ == "__main__":
    sys.exit(main())
