"""The triggers of the tables a native restore loads (used by ``native``).

A native backup holds only triggers that a migration creates (a RunSQL, django-pgtrigger's
``AddTrigger``): restoring runs the migrations, which create them again. While the rows
load, the tables' own triggers do not fire: the rows are the backup's, with whatever the
triggers made of them then. django-pghistory's insert and update triggers would write a
second event for every restored row (duplicate ``pgh_id``s), a BEFORE INSERT trigger would
rewrite the rows, a protect trigger would refuse them. ``ALTER TABLE ... DISABLE TRIGGER
USER`` (what the restore's ownership of the tables already allows; it drops their
constraints too) turns off exactly the user triggers, never the internal ones of foreign
keys, inside the restore's transaction; each is put back in its mode after.

This module imports nothing from ``native``; ``native`` imports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .params import quote

# pg_trigger.tgenabled -> the mode by name
MODES = {"O": "enabled", "D": "disabled", "R": "replica", "A": "always"}
# a mode -> the ALTER TABLE clause that sets it
_SET = {
    "enabled": "ENABLE TRIGGER",
    "disabled": "DISABLE TRIGGER",
    "replica": "ENABLE REPLICA TRIGGER",
    "always": "ENABLE ALWAYS TRIGGER",
}


@dataclass(frozen=True)
class Trigger:
    table: str
    name: str
    mode: str  # one of MODES' values


def read(cur: Any, tables: Iterable[str]) -> list[Trigger]:
    """The user triggers (not a constraint's internal ones) of ``tables``, with their modes."""
    cur.execute(
        "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "WHERE NOT t.tgisinternal AND c.relname = ANY(%s) ORDER BY 1, 2",
        [list(tables)],
    )
    return [Trigger(table, name, MODES[str(mode)]) for table, name, mode in cur.fetchall()]


def before_load(cur: Any, tables: list[str]) -> list[Trigger]:
    """Turn off the user triggers of ``tables``; those to set again once the rows are in
    (``after_load``), in the modes they had."""
    keep = read(cur, tables)
    for table in sorted({t.table for t in keep}):
        cur.execute(f"ALTER TABLE {quote(table)} DISABLE TRIGGER USER")
    return keep


def after_load(cur: Any, triggers: list[Trigger]) -> None:
    """Each of ``triggers`` in its mode again."""
    for trigger in triggers:
        cur.execute(
            f"ALTER TABLE {quote(trigger.table)} {_SET[trigger.mode]} {quote(trigger.name)}"
        )
