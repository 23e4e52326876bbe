"""Everything that differs between database vendors lives under ``db/``.

Each vendor has one package, ``db/<package>/``, holding the same kinds of module under the same
names: ``health`` (the health probe), ``backup`` (the default backup engine; ``backup_<name>``
for another) and, where the vendor needs them, ``params`` (connection parameters) and more.
``VENDORS`` below is the one strategy table that maps a vendor to its package and says what it
can do; other modules ask ``db.vendor(alias)`` for a vendor name and go through the db-level
modules (``backup_engine``, ``health``, ``preflight``, ``locks``...), never to a vendor package.
Only this package branches on ``connection.vendor``.

A new vendor (MySQL is planned) is one entry here and one package beside ``postgres/``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from django.db import connections

from ..report import CannotRun


@dataclass(frozen=True)
class Vendor:
    """What railops knows of a database vendor (``connection.vendor``)."""

    package: str  # db/<package>/
    # backup engine name (as written in a manifest) -> module of the package; the default first
    engines: dict[str, str] = field(default_factory=dict)
    # the vendor has other sessions whose running query can be cancelled (health.cancel_query)
    cancels_queries: bool = False
    # the SQL a migration would run can be linted for this vendor (migrate.lint's SQL rules)
    lints_sql: bool = False


VENDORS: dict[str, Vendor] = {
    # "native" needs no client binary (see postgres/native.py); auto picks pg_dump when it can.
    "postgresql": Vendor(
        "postgres",
        engines={"pg_dump": "backup", "native": "backup_native"},
        cancels_queries=True,
        lints_sql=True,
    ),
    "sqlite": Vendor("sqlite", engines={"sqlite": "backup"}),
}

SUPPORTED = tuple(VENDORS)


def vendor(alias: str) -> str:
    """The vendor of ``alias``; CannotRun for a vendor railops does not serve yet."""
    name = connections[alias].vendor
    if name not in SUPPORTED:
        raise CannotRun(
            f"database {alias!r} is {name}; railops supports {', '.join(SUPPORTED)} "
            "(MySQL/MariaDB is planned)"
        )
    return name


def lints_sql(name: str) -> bool:
    """Whether the SQL a migration would run on vendor ``name`` is linted (its SQL-level rules)."""
    spec = VENDORS.get(name)
    return spec is not None and spec.lints_sql


def vendor_module(name: str, module: str) -> ModuleType:
    """Module ``module`` of vendor ``name``'s package (imported on first use)."""
    return importlib.import_module(f"{__name__}.{VENDORS[name].package}.{module}")
