"""Indexes and constraints a native restore would not rebuild (used by ``native``).

A native restore rebuilds the schema by running the migrations, so an index or a constraint
made by hand (in ``psql``, by another tool) is gone afterwards, and with it a uniqueness or a
check the application relied on. Django's own are matched by definition, not by name: the
names it generates drift (a RenameField or a RenameModel keeps the old name, names hash the
columns, PostgreSQL gets a ``_like`` twin of every indexed text column), so matching names
would refuse half of a long-lived project. Only what the state names (``Meta.indexes``,
``Meta.constraints``) and what an applied ``RunSQL`` names are matched by name, which covers
expression and partial indexes, opclasses, GIN and GiST, check and exclusion constraints; and
what a state-only change left in the database, by the name Django gave it (``leftover_names``).

This module imports nothing from ``native``; ``native`` imports it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Columns = tuple[str, ...]

# Django's own on a text column: the default opclass, or the pattern twin of the `_like` index.
_DJANGO_OPCLASSES = ("varchar_pattern_ops", "text_pattern_ops")


@dataclass
class TableKeys:
    """What the migration state makes PostgreSQL hold on one table, by definition."""

    primary: Columns = ()
    unique: Counter[Columns] = field(default_factory=Counter)  # unique constraints, how many
    indexed: set[Columns] = field(default_factory=set)  # what a plain index may be on
    foreign: set[tuple[Columns, str, Columns]] = field(default_factory=set)  # cols, to, to cols
    checks: dict[str, set[str]] = field(default_factory=dict)  # column -> normalised CHECKs
    names: set[str] = field(default_factory=set)  # Meta.indexes and Meta.constraints names


@dataclass
class Expected:
    """What restoring rebuilds, for ``check_indexes_constraints``."""

    keys: dict[str, TableKeys] = field(default_factory=dict)  # by table, from the final state
    leftovers: set[str] = field(default_factory=set)  # see leftover_names
    generated: set[str] = field(default_factory=set)  # generated_names of ``keys``


def _norm_check(definition: str) -> str:
    """A CHECK's text without quotes, parentheses, spaces or case: Django's and PostgreSQL's
    deparsed forms (``CHECK ("n" >= 0)``, ``CHECK ((n >= 0))``) compare equal."""
    return re.sub(r'["()\s]', "", definition).lower()


def table_keys(
    model: Any, connection: Any, index_together: Iterable[Iterable[str]] = ()
) -> TableKeys:
    """The keys of one state model's table (``index_together`` from its ModelState options:
    Django 5.1+ no longer renders it on the model, but its old migrations still create it)."""
    from django.db.models import ForeignKey, Index, UniqueConstraint

    meta = model._meta
    keys = TableKeys()

    def columns(names: Iterable[str]) -> Columns:
        return tuple(str(meta.get_field(name).column) for name in names)

    pk_fields = getattr(meta, "pk_fields", [meta.pk])
    keys.primary = tuple(str(f.column) for f in pk_fields if f.column)
    if keys.primary:
        keys.unique[keys.primary] += 1
    for f in meta.local_concrete_fields:
        if not f.column:
            continue
        column = (str(f.column),)
        if f.unique and not f.primary_key:
            keys.unique[column] += 1
        if f.db_index or f.unique:
            keys.indexed.add(column)
        if isinstance(f, ForeignKey) and getattr(f, "db_constraint", True):
            target = f.target_field
            keys.foreign.add((column, f.related_model._meta.db_table, (str(target.column),)))
        check = f.db_parameters(connection=connection).get("check")
        if check:
            keys.checks.setdefault(column[0], set()).add(_norm_check(f"CHECK ({check})"))
    for together in meta.unique_together:
        keys.unique[columns(together)] += 1
    for together in index_together:
        keys.indexed.add(columns(together))
    for index in meta.indexes:
        keys.names.add(str(index.name))
        plain = type(index) is Index and not (index.condition or index.opclasses)
        plain = plain and not (index.include or index.expressions)
        if plain and index.fields and not any(name.startswith("-") for name in index.fields):
            keys.indexed.add(columns(index.fields))
    for constraint in meta.constraints:
        keys.names.add(str(constraint.name))
        if isinstance(constraint, UniqueConstraint) and constraint.fields:
            options = [getattr(constraint, o, None) for o in ("condition", "include", "opclasses")]
            if not any(options):
                keys.unique[columns(constraint.fields)] += 1
    keys.indexed |= set(keys.unique)
    return keys


def implied(state: Any, models: Iterable[Any], connection: Any) -> dict[str, TableKeys]:
    """``table_keys`` of each of ``models`` (rendered from the migration ``state``), by table."""
    found: dict[str, TableKeys] = {}
    for model in models:
        meta = model._meta
        model_state = state.models.get((meta.app_label, meta.model_name))
        together = model_state.options.get("index_together", ()) if model_state else ()
        found[meta.db_table] = table_keys(model, connection, together or ())
    return found


def _state_only(operations: Iterable[Any]) -> bool:
    from django.db.migrations.operations import SeparateDatabaseAndState

    return any(
        isinstance(op, SeparateDatabaseAndState)
        and (op.state_operations or _state_only(op.database_operations))
        for op in operations
    )


def leftover_names(
    loader: Any, nodes: Iterable[tuple[str, str]], connection: Any, migrates: Callable[[Any], bool]
) -> set[str]:
    """The names Django gave the keys of the state before each applied migration with a
    SeparateDatabaseAndState: what the database may still hold that the final state forgot.

    Only a state-only change makes the state and the database part ways: django-oscar moves
    Notification from customer to communication that way, without the ``db_index`` customer's
    0005 gave ``date_sent``, so the index is in every Oscar database (and in every database
    restore migrates) but not in the final state, on a table 0002 renamed since. Its generated
    name is stable, so it is matched by name: the names ``_create_index_name`` gives those
    keys, and PostgreSQL's own for the inline ones of CREATE TABLE (``_pkey``, ``_key``,
    ``_check``).
    """
    found: set[str] = set()
    for key in nodes:
        migration = loader.graph.nodes[key]
        if not _state_only(migration.operations):
            continue
        parents = sorted(parent.key for parent in loader.graph.node_map[key].parents)
        if not parents:
            continue
        try:
            state = loader.graph.make_state(nodes=parents, at_end=True)
            models = [m for m in state.apps.get_models(include_auto_created=True) if migrates(m)]
        except (LookupError, ValueError):  # a state that does not render: no names from it
            continue
        found |= generated_names(implied(state, models, connection), connection)
    return found


def generated_names(by_table: dict[str, TableKeys], connection: Any) -> set[str]:
    """The names Django (and PostgreSQL, for inline ones) gives the indexes and constraints
    of ``by_table`` when it creates them (``collect_sql``: the editor runs nothing)."""
    editor = connection.SchemaEditorClass(connection, collect_sql=True)
    limit = connection.ops.max_name_length()

    def named(table: str, cols: Columns, *suffixes: str) -> set[str]:
        return {editor._create_index_name(table, list(cols), suffix=s) for s in suffixes}

    found: set[str] = set()
    for table, keys in by_table.items():
        found.add(f"{table}_pkey"[:limit])
        for cols in keys.indexed:
            found |= named(table, cols, "", "_like", "_idx", "_uniq")
        for cols in keys.unique:
            found.add(f"{table}_{'_'.join(cols)}_key"[:limit])
        for cols, to_table, to_cols in keys.foreign:
            found |= named(table, cols, f"_fk_{to_table}_{'_'.join(to_cols)}")
        for column in keys.checks:
            found |= named(table, (column,), "_check")
            found.add(f"{table}_{column}_check"[:limit])
    return found


_INDEXES = """
SELECT t.relname, i.relname, x.indisunique,
  x.indexprs IS NOT NULL, x.indpred IS NOT NULL,
  am.amname = 'btree' AND x.indnkeyatts = x.indnatts
  AND NOT EXISTS (SELECT 1 FROM unnest(x.indoption::int2[]) o(v) WHERE o.v <> 0)
  AND NOT EXISTS (SELECT 1 FROM unnest(x.indclass::oid[]) k(oid)
    JOIN pg_opclass o ON o.oid = k.oid WHERE NOT o.opcdefault AND o.opcname <> ALL(%s))
  AND NOT EXISTS (SELECT 1 FROM unnest(x.indkey::int2[], x.indcollation::oid[]) k(num, coll)
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.num
    WHERE k.coll <> a.attcollation),
  ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(num, n)
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.num ORDER BY k.n)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid
  AND c.conrelid = t.oid AND c.contype IN ('p', 'u', 'x'))
ORDER BY 1, 2
"""

_CONSTRAINTS = """
SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid), f.relname,
  ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, n)
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.n),
  ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, n)
    JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.n)
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class f ON f.oid = c.confrelid
WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
AND c.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY 1, 2
"""

_CONSTRAINT_KINDS = {
    "p": "primary key",
    "u": "unique constraint",
    "f": "foreign key",
    "c": "check constraint",
    "x": "exclusion constraint",
}


def check_indexes_constraints(
    cur: Any,
    expected: Expected,
    tables: list[str],
    mentioned: Callable[[str], bool],
    refuse: Callable[[str, str], None],
) -> None:
    """``refuse`` each index and constraint on ``tables`` that neither the state
    (``expected``) explains nor an applied RunSQL names (``mentioned``).

    An index that implements a primary key, unique or exclusion constraint is judged with its
    constraint. A plain index (btree over columns, ascending, default or pattern opclasses, same
    collation, no INCLUDE, no predicate) is explained by its columns: a unique one when the
    state makes those columns unique, any other when the state indexes or constrains them
    (Django's ``_like`` twins). Anything else only by its name, ``expected.leftovers`` too.

    Each constraint of the state explains one constraint only, and Django's names go first: a
    hand-made twin of a Django foreign key with ``ON DELETE CASCADE`` is refused by its name.
    """
    if not tables:
        return
    keys = expected.keys
    cur.execute(_INDEXES, [list(_DJANGO_OPCLASSES), tables])
    for table, name, unique, expression, partial, btree, cols in cur.fetchall():
        have = keys.get(table, TableKeys())
        if name in have.names or name in expected.leftovers or mentioned(name):
            continue
        plain = btree and not expression and not partial
        if plain and tuple(cols) in (have.unique if unique else have.indexed):
            continue
        kind = " ".join(
            word
            for word, on in (("unique", unique), ("partial", partial), ("expression", expression))
            if on
        )
        refuse(f"index {name} on {table}", f"{kind} index no migration creates".lstrip())
    budget: Counter[tuple[Any, ...]] = Counter()
    for table, have in keys.items():
        budget[("p", table, have.primary)] += 1
        budget.update({("u", table, cols): n for cols, n in have.unique.items()})
        budget.update(("f", table, *foreign) for foreign in have.foreign)
        budget.update(("c", table, col, c) for col, checks in have.checks.items() for c in checks)
    cur.execute(_CONSTRAINTS, [tables])
    found = sorted(cur.fetchall(), key=lambda row: (row[1] not in expected.generated, row[:2]))
    for table, name, contype, definition, to_table, cols, to_cols in found:
        have = keys.get(table, TableKeys())
        if name in have.names or name in expected.leftovers or mentioned(name):
            continue
        key = _key(table, contype, definition, tuple(cols), to_table, tuple(to_cols or ()))
        if key is not None and budget[key] > 0:
            budget[key] -= 1
            continue
        refuse(
            f"constraint {name} on {table}", f"{_CONSTRAINT_KINDS[contype]} no migration creates"
        )


def _key(
    table: str,
    contype: str,
    definition: str,
    cols: Columns,
    to_table: str | None,
    to_cols: Columns,
) -> tuple[Any, ...] | None:
    """The state key a constraint would be, when its definition is one Django makes."""
    if contype == "p":
        return ("p", table, cols)
    # Django's unique ones are bare: no INCLUDE, NULLS NOT DISTINCT, DEFERRABLE, WITHOUT OVERLAPS
    if contype == "u" and re.fullmatch(r"UNIQUE \([^()]*\)", definition):
        return None if "WITHOUT OVERLAPS" in definition else ("u", table, cols)
    if contype == "f":
        return ("f", table, cols, str(to_table), to_cols)
    if contype == "c" and len(cols) == 1:
        return ("c", table, cols[0], _norm_check(definition))
    return None


def check_defaults(
    cur: Any,
    columns: dict[str, list[str]],
    explained: set[tuple[str, str]],
    mentioned: Callable[[str], bool],
    refuse: Callable[[str, str], None],
) -> None:
    """Refuse the column defaults of the covered ``columns`` that migrating would not set.

    Django leaves a default in the database only for a ``db_default`` or a ``GeneratedField``
    (``explained``, from the state) and for the ``nextval`` of a serial auto field (an old
    project's ``id``, also ``explained``); an ``AddField``'s default is dropped again. So any
    other (``ALTER TABLE ... SET DEFAULT now()`` in ``psql``) would be gone after a restore,
    and with it what inserts relying on it get, unless an applied RunSQL names the table.
    """
    cur.execute(
        "SELECT c.relname, a.attname FROM pg_attrdef d "
        "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        "JOIN pg_class c ON c.oid = d.adrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "WHERE NOT a.attisdropped ORDER BY 1, a.attnum"
    )
    for table, column in cur.fetchall():
        if column not in columns.get(table, ()):
            continue  # not a covered column: refused (or left alone) as such
        if (table, column) in explained or mentioned(table):
            continue
        refuse(f"default of {table}.{column}", "column default no migration sets")
