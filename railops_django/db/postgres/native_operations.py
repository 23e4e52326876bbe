"""The SQL that migration operations from outside Django run (used by ``native``).

A native restore runs the migrations again, so whatever an applied migration creates is
rebuilt, whoever wrote the operation. Django's own operations are known to the coverage check
by what they mean (the migration state); an operation from another package
(django-pgtrigger's ``AddTrigger``, django-add-default-value's ``AddDefaultValue``) is known
by the SQL it runs, collected the way ``sqlmigrate`` collects it: each one's
``database_forwards`` on a schema editor with ``collect_sql=True``, between the project states
before and after it, so that nothing is executed. A trigger and the function it calls, both
created by ``AddTrigger``, are then named by an applied migration like a RunSQL's.

The states are carried forward once along the applied plan, as ``migrate`` does, and only
when some applied migration has such an operation. The operations' code may reach the
database all the same (a cursor of the editor's connection rather than ``execute``): it
runs in a read-only transaction that is rolled back, each operation in a savepoint, so a
backup changes nothing, and one that tried to is judged by its arguments.

This module imports nothing from ``native``; ``native`` imports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from ...redact import logger


def is_outside(operation: Any) -> bool:
    """True for an operation that is not one of Django's own."""
    return not type(operation).__module__.startswith("django.")


def _database_operations(operations: Iterable[Any]) -> Iterable[Any]:
    from django.db.migrations.operations import SeparateDatabaseAndState

    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            yield from _database_operations(operation.database_operations)
        else:
            yield operation


def has_outside(operations: Iterable[Any]) -> bool:
    """True when ``operations`` (those a SeparateDatabaseAndState runs included) hold one."""
    return any(is_outside(op) for op in _database_operations(operations))


def _plan(loader: Any, nodes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The graph nodes of ``nodes`` and their ancestors, in the order migrate applies them."""
    seen: set[tuple[str, str]] = set()
    plan: list[tuple[str, str]] = []
    for node in nodes:
        for key in loader.graph.forwards_plan(node):
            if key not in seen:
                seen.add(key)
                plan.append(key)
    return plan


def _collect(
    app_label: str, operations: Iterable[Any], state: Any, connection: Any, out: list[str]
) -> tuple[Any, list[Any]]:
    """Walk ``operations`` from ``state``; append the SQL of the outside ones to ``out``.

    Returns the state after them and the outside operations whose SQL could not be collected
    (a ``database_forwards`` that raises without a real database under it).
    """
    from django.db.migrations.operations import SeparateDatabaseAndState

    failed: list[Any] = []
    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            if has_outside(operation.database_operations):
                _, nested = _collect(
                    app_label, operation.database_operations, state.clone(), connection, out
                )
                failed += nested
            operation.state_forwards(app_label, state)
            continue
        if not is_outside(operation):
            operation.state_forwards(app_label, state)
            continue
        after = state.clone()
        operation.state_forwards(app_label, after)
        try:
            # a savepoint of the read-only transaction: an error leaves the others usable
            with (
                transaction.atomic(using=connection.alias),
                connection.schema_editor(collect_sql=True, atomic=False) as editor,
            ):
                operation.database_forwards(app_label, editor, state, after)
            out.extend(str(sql) for sql in editor.collected_sql)
        except Exception as exc:  # another package's code: any error
            logger.info("native coverage: %r collects no SQL (%s)", operation, exc)
            failed.append(operation)
        state = after
    return state, failed


def outside_sql(
    loader: Any, nodes: Iterable[tuple[str, str]], connection: Any
) -> tuple[str, list[Any]]:
    """The SQL every outside operation of the applied ``nodes`` runs, as one text, and the
    operations whose SQL could not be collected (the caller judges them otherwise)."""
    from django.db.migrations.state import ProjectState

    nodes = list(nodes)
    if not any(has_outside(loader.graph.nodes[key].operations) for key in nodes):
        return "", []
    out: list[str] = []
    failed: list[Any] = []
    state = ProjectState(real_apps=loader.unmigrated_apps)
    # Their code may reach the database all the same (a cursor of the editor's connection,
    # not ``execute``): a backup must change nothing, so it runs read-only and rolled back.
    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
        for key in _plan(loader, nodes):
            migration = loader.graph.nodes[key]
            if not has_outside(migration.operations):
                state = migration.mutate_state(state, preserve=False)
                continue
            state, nested = _collect(
                migration.app_label, migration.operations, state, connection, out
            )
            failed += nested
        transaction.set_rollback(True, using=connection.alias)
    return "\n".join(out), failed
