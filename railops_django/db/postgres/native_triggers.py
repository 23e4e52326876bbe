"""The triggers of the tables a native restore loads (used by ``native``).

A native backup holds only triggers that a migration creates (a RunSQL, django-pgtrigger's
``AddTrigger``): restoring runs the migrations, which create them again. Three things about
them are the restore's own business:

- **While rows load, the tables' own triggers do not fire.** The rows are the backup's, with
  whatever the triggers made of them then: django-pghistory's insert and update triggers
  would write a second event for every restored row (duplicate ``pgh_id``s), a BEFORE INSERT
  trigger would rewrite the rows, a protect trigger would refuse them. ``ALTER TABLE ...
  DISABLE TRIGGER USER`` (what the restore's ownership of the tables already allows; it
  drops their constraints too) turns off exactly the user triggers, never the internal ones
  of foreign keys, inside the restore's transaction.
- **Each trigger gets back the mode it had at backup time** (``engine_info.triggers``:
  enabled, disabled, replica or always): one disabled with ``pgtrigger disable`` stays
  disabled.
- **A trigger the backup's database no longer had is dropped** when a migration creates it
  (``pgtrigger uninstall``, a ``DROP TRIGGER`` in ``psql``): migrating, into an empty
  database or in place, would otherwise bring it back. A trigger no migration creates (made
  on the target after the backup) is left as it was.

Names are quoted identifiers and modes come from a fixed table, so an edited manifest cannot
make the restore run SQL of its own. A manifest without ``triggers`` (an older backup) leaves
every trigger in the mode it has after migrating.

This module imports nothing from ``native``; ``native`` imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .params import quote

# pg_trigger.tgenabled -> what the manifest records
MODES = {"O": "enabled", "D": "disabled", "R": "replica", "A": "always"}
# what the manifest records -> the ALTER TABLE clause that sets it
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

    def as_info(self) -> dict[str, str]:
        return {"table": self.table, "name": self.name, "enabled": self.mode}


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


def recorded(info: dict[str, Any]) -> list[Trigger] | None:
    """The backup's triggers from its engine_info (validated with the manifest), or None for a
    backup that recorded none."""
    if "triggers" not in info:
        return None
    return [Trigger(t["table"], t["name"], t["enabled"]) for t in info["triggers"]]


class Missing(Exception):
    """A trigger of the backup that migrating did not create."""


def before_load(
    cur: Any,
    tables: list[str],
    backed_up: list[Trigger] | None,
    migrations_create: Callable[[str], bool],
) -> list[Trigger]:
    """Drop the triggers the backup lacks that a migration creates, turn off the user triggers
    of ``tables``; the modes to set once the rows are in (``after_load``)."""
    present = read(cur, tables)
    if backed_up is None:
        keep = present
    else:
        had = {(t.table, t.name): t for t in backed_up}
        absent = [t for t in backed_up if (t.table, t.name) not in _keys(present)]
        if absent:
            raise Missing(", ".join(f"{t.name} on {t.table}" for t in absent))
        keep = []
        for trigger in present:
            if (trigger.table, trigger.name) in had:
                keep.append(had[(trigger.table, trigger.name)])
            elif migrations_create(trigger.name):
                cur.execute(f"DROP TRIGGER {quote(trigger.name)} ON {quote(trigger.table)}")
            else:
                keep.append(trigger)  # made on the target since: left in its mode
    for table in sorted({t.table for t in keep}):
        cur.execute(f"ALTER TABLE {quote(table)} DISABLE TRIGGER USER")
    return keep


def _keys(triggers: Iterable[Trigger]) -> set[tuple[str, str]]:
    return {(t.table, t.name) for t in triggers}


def after_load(cur: Any, triggers: list[Trigger]) -> None:
    """Each of ``triggers`` in its mode again."""
    for trigger in triggers:
        cur.execute(
            f"ALTER TABLE {quote(trigger.table)} {_SET[trigger.mode]} {quote(trigger.name)}"
        )
