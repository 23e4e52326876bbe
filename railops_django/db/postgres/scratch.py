"""Scratch databases of restore tests: ``railops_verify_<source tag>_<random>``, created beside
the source database, marked in use by an advisory lock, and swept when a killed run left one.
Both PostgreSQL engines restore-test into them.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Iterator
from typing import Any

from django.db import connections

from ...redact import logger
from ...report import CannotRun
from .params import quote, raw_connection

SCRATCH_PREFIX = "railops_verify_"
# pg_advisory_lock(class, key): the class of the locks that mark a scratch database in use.
_SCRATCH_LOCK_CLASS = 0x7261696C  # "rail"


def _scratch_tag(alias: str) -> str:
    """8 hex digits naming the source database: a scratch database says whose it is."""
    name = str(connections[alias].settings_dict.get("NAME") or "")
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def _scratch_lock(cursor: Any, name: str, *, wait: bool) -> bool:
    function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
    cursor.execute(f"SELECT {function}(%s::int, hashtext(%s))::text", [_SCRATCH_LOCK_CLASS, name])
    return bool(cursor.fetchone()[0] != "false")


_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]*")


def role_sql(role: str) -> str:
    """``role`` as SQL names it: a plain lowercase identifier as it is, else double-quoted with
    embedded quotes doubled, so the ALTER ROLE the hint gives works when pasted."""
    return role if _PLAIN_IDENTIFIER.fullmatch(role) else quote(role)


def _create(cursor: Any, alias: str, scratch: str) -> None:
    """CREATE DATABASE ``scratch``; CannotRun saying what to grant when the role may not."""
    import psycopg

    try:
        cursor.execute("SET statement_timeout = 0")  # the project's OPTIONS may set one
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    except psycopg.Error as exc:
        user = connections[alias].settings_dict.get("USER")
        role = role_sql(str(user)) if user else "the database user"
        hint = (
            f"grant it (ALTER ROLE {role} CREATEDB, as a superuser)"
            if isinstance(exc, psycopg.errors.InsufficientPrivilege)
            else "check the server's log"
        )
        raise CannotRun(
            f"the restore test restores into a scratch database beside {alias!r}, and creating "
            f"one failed ({type(exc).__name__}: {exc}): {hint}, or verify without "
            "--restore-test (sha256 and a full read of the archive)"
        ) from None


@contextlib.contextmanager
def scratch_database(alias: str) -> Iterator[str]:
    """A new ``railops_verify_<source tag>_<random>`` database, dropped afterwards.

    A session advisory lock on the source database, taken before the CREATE and held until
    the DROP, marks it in use: a run killed in between (SIGKILL, OOM) leaves the database but
    its lock goes with its connection, so ``sweep_scratch`` knows it for a leftover.
    """
    scratch = f"{SCRATCH_PREFIX}{_scratch_tag(alias)}_{secrets.token_hex(6)}"
    admin = raw_connection(alias)
    try:
        with admin.cursor() as cursor:
            _scratch_lock(cursor, scratch, wait=True)
            _create(cursor, alias, scratch)
        try:
            yield scratch
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    finally:
        admin.close()


def sweep_scratch(alias: str, *, dry_run: bool = False) -> list[str]:
    """Drop the scratch databases of ``alias``'s killed restore tests; their names.

    Only this source database's (by the tag in the name), only those whose creator's lock is
    free (its session is gone), only those nobody is connected to (a DROP without FORCE).
    """
    tag = _scratch_tag(alias)
    pattern = f"{SCRATCH_PREFIX}{tag}\\_%"
    admin = raw_connection(alias)
    removed = []
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", [pattern]
            )
            for (name,) in cursor.fetchall():
                if not re.fullmatch(rf"{SCRATCH_PREFIX}{tag}_[0-9a-f]{{12}}", name):
                    continue
                if not _scratch_lock(cursor, name, wait=False):
                    continue  # a restore test is using it
                try:
                    if not dry_run:
                        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    removed.append(name)
                except Exception as exc:  # still connected to: left for the next sweep
                    logger.info("scratch database %s left in place: %s", name, exc)
                finally:
                    cursor.execute(
                        "SELECT pg_advisory_unlock(%s::int, hashtext(%s))",
                        [_SCRATCH_LOCK_CLASS, name],
                    )
    finally:
        admin.close()
    return removed
