"""The database in use against the one the environment names: DATABASE_URL vs settings.DATABASES.

Settings can ignore a DATABASE_URL that is set: a typo in the variable name, a hard-coded
``DATABASES``, or django-environ reading ``${{Postgres.DATABASE_URL}}`` (an unresolved Railway
reference) as a reference to another variable and taking its SQLite default. Every command then
acts on a database the user did not mean, and a SQLite backup lands beside the PostgreSQL ones.

``mismatch(alias)`` says when that is so. ``refuse_on_mismatch(alias)`` stops a command that
changes data, on Railway only, unless ``RAILOPS_ALLOW_DATABASE_MISMATCH=1`` is set for that one
run (an environment variable on purpose: a setting would switch the guard off for good).
Descriptions carry vendor, host, port and name, never a user or a password.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import platform
from ..report import CannotRun

# The variables that name the database the app should use (either is enough: the unpooled URL
# is the same database without the pooler in front).
VARIABLES = ("DATABASE_URL", "DATABASE_UNPOOLED_URL")
# Railway's other names for the same database (public TCP proxy, private network).
SAME_DATABASE = ("DATABASE_PUBLIC_URL", "DATABASE_PRIVATE_URL")
OVERRIDE = "RAILOPS_ALLOW_DATABASE_MISMATCH"
UNRESOLVED = "${{"
_LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
_RAILWAY_PRIVATE = ".railway.internal"
_RAILWAY_PUBLIC = (".proxy.rlwy.net", ".rlwy.net", ".railway.app")
_ENGINE_VENDORS = (
    ("postg", "postgresql"),
    ("redshift", "postgresql"),
    ("timescale", "postgresql"),
    ("cockroach", "cockroachdb"),
    ("sqlite", "sqlite"),
    ("spatialite", "sqlite"),
    ("mysql", "mysql"),
    ("oracle", "oracle"),
    ("mssql", "microsoft"),
)


@dataclass(frozen=True)
class Place:
    """Where a database is: what two settings dicts must share to be the same database."""

    vendor: str
    host: str
    port: int | None
    name: str
    user: str = ""
    password: str = field(default="", repr=False, compare=False)

    def describe(self) -> str:
        if self.vendor == "sqlite":
            return f"sqlite {self.name or '(no file)'}"
        where = self.host or "localhost"
        if self.port:
            where += f":{self.port}"
        return f"{self.vendor} {where}/{self.name}"


@dataclass(frozen=True)
class Mismatch:
    """``variable`` names another database than ``DATABASES[alias]`` (or is unresolved)."""

    alias: str
    variable: str
    configured: Place
    named: Place | None = None  # None when the variable is an unresolved reference

    @property
    def unresolved(self) -> bool:
        return self.named is None

    @property
    def problem(self) -> str:
        here = f"DATABASES[{self.alias!r}] is {self.configured.describe()}"
        if self.named is None:
            return (
                f"{self.variable} still holds an unresolved Railway reference (${{{{...}}}}), "
                f"and {here}"
            )
        return f"{self.variable} names {self.named.describe()}, but {here}"

    @property
    def fix(self) -> str:
        if self.named is None:
            return (
                f"fix the reference in Railway > Variables > {self.variable} (the service name "
                "is case-sensitive, e.g. ${{Postgres.DATABASE_URL}}) and redeploy"
            )
        return (
            f"make the settings read {self.variable} (e.g. DATABASES = "
            '{"default": dj_database_url.config(conn_max_age=60)}), or unset it if '
            f"DATABASES[{self.alias!r}] is the database you mean"
        )


def vendor_of(engine: str) -> str:
    """The vendor of a ``DATABASES`` ENGINE path, without importing the backend."""
    lowered = engine.lower()
    for marker, vendor in _ENGINE_VENDORS:
        if marker in lowered:
            return vendor
    return lowered.rsplit(".", 1)[-1]


def _resolved(name: str) -> str:
    """A SQLite file as an absolute path; `:memory:`, `file:` URIs and odd names as they are."""
    if not name or name == ":memory:" or name.startswith("file:"):
        return name
    try:
        return str(Path(name).expanduser().resolve())
    except (OSError, ValueError, RuntimeError):
        return name


def place(settings_dict: Mapping[str, Any]) -> Place:
    vendor = vendor_of(str(settings_dict.get("ENGINE") or ""))
    name = str(settings_dict.get("NAME") or "")
    if vendor == "sqlite":
        return Place(vendor, "", None, _resolved(name))
    host = str(settings_dict.get("HOST") or "").strip().lower()
    if host in _LOCAL_HOSTS or host.startswith("/"):  # a Unix socket directory is local too
        host = "localhost"
    try:
        port: int | None = int(settings_dict.get("PORT") or 0) or None
    except (TypeError, ValueError):
        port = None
    return Place(
        vendor,
        host,
        port or _DEFAULT_PORTS.get(vendor),
        name,
        str(settings_dict.get("USER") or ""),
        str(settings_dict.get("PASSWORD") or ""),
    )


def _parse(url: str) -> Place | None:
    import dj_database_url

    try:
        return place(dj_database_url.parse(url))
    except Exception:  # an unknown scheme or a malformed URL: no verdict on what it names
        return None


def _railway_pair(a: str, b: str) -> bool:
    """One host is Railway's private name and the other its public proxy."""
    return (a.endswith(_RAILWAY_PRIVATE) and b.endswith(_RAILWAY_PUBLIC)) or (
        b.endswith(_RAILWAY_PRIVATE) and a.endswith(_RAILWAY_PUBLIC)
    )


def same_database(named: Place, configured: Place, test_name: str = "") -> bool:
    """Whether ``configured`` is the database ``named`` names.

    Django's test runner swaps in ``test_<name>`` (or TEST NAME): that counts as the same. A
    Railway private host and a public proxy host are the same database when the name, user and
    password agree (each Railway database has its own generated password).
    """
    if named.vendor != configured.vendor:
        return False
    names = {named.name, test_name} if test_name else {named.name}
    if named.vendor != "sqlite":
        names.add(f"test_{named.name}")
    if configured.name not in names:
        return False
    if named.vendor == "sqlite":
        return True
    if (named.host, named.port) == (configured.host, configured.port):
        return True
    return (
        _railway_pair(named.host, configured.host)
        and bool(named.password)
        and named.user == configured.user
        and hmac.compare_digest(named.password.encode(), configured.password.encode())
    )


def _test_name(settings_dict: Mapping[str, Any]) -> str:
    test = settings_dict.get("TEST") or {}
    raw = str(test.get("NAME") or "") if isinstance(test, Mapping) else ""
    if vendor_of(str(settings_dict.get("ENGINE") or "")) == "sqlite":
        return _resolved(raw)
    return raw


def mismatch(
    alias: str = "default",
    environ: Mapping[str, str] | None = None,
    databases: Mapping[str, Mapping[str, Any]] | None = None,
) -> Mismatch | None:
    """How ``DATABASES[alias]`` differs from the database the environment names, or None.

    None when no variable is set, when the value cannot be parsed (the settings report that
    themselves), or when ``alias`` or another alias of ``databases`` (default: the settings, as
    the connections hold them) is the named database: a project may point a second alias at
    DATABASE_URL on purpose.
    """
    env = os.environ if environ is None else environ
    if databases is None:
        from django.conf import settings
        from django.db import connections

        databases = {**settings.DATABASES, alias: connections[alias].settings_dict}
    values = {name: env.get(name, "").strip() for name in (*VARIABLES, *SAME_DATABASE)}
    configured = place(databases[alias])
    for name in VARIABLES:
        if UNRESOLVED in values[name]:
            return Mismatch(alias, name, configured)
    named = {name: _parse(value) for name, value in values.items() if value}
    set_variables = [name for name in VARIABLES if named.get(name)]
    if not set_variables:  # none set, or none that parses: no verdict
        return None
    candidates = [p for p in named.values() if p is not None]
    for settings_dict in databases.values():
        here, test_name = place(settings_dict), _test_name(settings_dict)
        if any(same_database(p, here, test_name) for p in candidates):
            return None
    return Mismatch(alias, set_variables[0], configured, named[set_variables[0]])


def override_set(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(OVERRIDE, "").strip().lower() in ("1", "true", "yes", "on")


def refuse_on_mismatch(
    alias: str = "default",
    environ: Mapping[str, str] | None = None,
    databases: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """CannotRun on Railway when ``alias`` is not the database the environment names."""
    env = os.environ if environ is None else environ
    if not platform.railway(env).on_railway or override_set(env):
        return
    found = mismatch(alias, env, databases)
    if found is not None:
        raise CannotRun(
            f"{found.problem}: refusing to change data on Railway. To fix, {found.fix}; or set "
            f"{OVERRIDE}=1 for this run to act on DATABASES[{alias!r}] anyway."
        )
