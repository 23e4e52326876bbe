"""Test helpers shared by the suite."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"


class _Capture(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def run_command(name: str, *args: str, tty: bool = False) -> tuple[str, str, int]:
    """Run a management command as the command line would; return (stdout, stderr, exit code).

    Arguments are parsed the way ``manage.py`` parses them (so bad input exits 3 as it would for
    a user), but in-process, so the test database and the test's transaction are used.
    """
    out, err = _Capture(tty), _Capture(tty)
    command = load_command_class(get_commands()[name], name)
    command._called_from_command_line = True
    parser = command.create_parser("manage.py", name)
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            options = vars(parser.parse_args([str(a) for a in args]))
            positional = options.pop("args", ())
            command.execute(*positional, stdout=out, stderr=err, **options)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except CommandError as exc:
            err.write(f"CommandError: {exc}\n")
            code = exc.returncode
    return out.getvalue(), err.getvalue(), code


def run_manage(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``example_project/manage.py`` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    # The subprocess imports the same railops_django as the tests, whatever is installed.
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=EXAMPLE,
        timeout=timeout,
    )


def schema_dump(alias: str = "default") -> str:
    """The database's schema as text: ``pg_dump --schema-only`` on PostgreSQL (comments and the
    random ``\\restrict`` keys of recent pg_dump releases removed), ``sqlite_master`` on SQLite."""
    from django.db import connections

    connection = connections[alias]
    if connection.vendor == "postgresql":
        settings_dict = connection.settings_dict
        env = {
            **os.environ,
            "PGHOST": settings_dict.get("HOST") or "127.0.0.1",
            "PGPORT": str(settings_dict.get("PORT") or 5432),
            "PGUSER": settings_dict.get("USER") or "postgres",
            "PGPASSWORD": settings_dict.get("PASSWORD") or "",
        }
        out = subprocess.run(
            ["pg_dump", "--schema-only", "--no-owner", settings_dict["NAME"]],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        return "\n".join(
            line
            for line in out.splitlines()
            if not line.startswith(("--", "\\restrict", "\\unrestrict"))
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        return "\n".join(repr(row) for row in cursor.fetchall())


def row_counts(alias: str = "default") -> dict[str, int]:
    from django.db import connections

    connection = connections[alias]
    with connection.cursor() as cursor:
        counts = {}
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
        return counts
