"""Everything that differs between database vendors lives under ``db/``.

Other modules ask ``db.vendor(alias)`` for a vendor name and call the vendor module's
functions; only this package branches on ``connection.vendor``.
"""

from __future__ import annotations

from django.db import connections

from ..report import CannotRun

SUPPORTED = ("postgresql", "sqlite")


def vendor(alias: str) -> str:
    """The vendor of ``alias``; CannotRun for a vendor railops does not serve yet."""
    name = connections[alias].vendor
    if name not in SUPPORTED:
        raise CannotRun(
            f"database {alias!r} is {name}; railops supports {', '.join(SUPPORTED)} "
            "(MySQL/MariaDB is planned)"
        )
    return name
