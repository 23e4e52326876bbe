"""What the database's migration state is, against the code's, and what going back would cost."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import (
    AddField,
    AlterField,
    CreateModel,
    DeleteModel,
    RemoveField,
    RenameField,
    RenameModel,
    RunPython,
    RunSQL,
)

# Reversing these destroys data that was written since they ran.
_LOSES_DATA_WHEN_REVERSED = (AddField, CreateModel)
# Reversing these means the *old* code needs the *old* schema back before it can run.
_OLD_CODE_NEEDS_OLD_SCHEMA = (RemoveField, DeleteModel, RenameField, RenameModel, AlterField)


@dataclass(frozen=True)
class MigrationGap:
    pending: list[str]
    unknown_applied: list[str]  # applied in the database, absent from the code


def gap(alias: str) -> MigrationGap:
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    applied = executor.recorder.applied_migrations()
    known = set(executor.loader.graph.nodes)
    replaced = {r for m in executor.loader.disk_migrations.values() for r in m.replaces}
    unknown = sorted(
        f"{app}.{name}" for app, name in applied if (app, name) not in known | replaced
    )
    return MigrationGap(
        pending=[f"{m.app_label}.{m.name}" for m, _ in plan],
        unknown_applied=unknown,
    )


@dataclass
class BackStep:
    migration: str
    irreversible: list[str] = field(default_factory=list)
    loses_data: list[str] = field(default_factory=list)
    old_code_needs_old_schema: bool = False


@dataclass
class BackPlan:
    targets: dict[str, str]
    steps: list[BackStep]

    @property
    def irreversible(self) -> list[BackStep]:
        return [s for s in self.steps if s.irreversible]

    @property
    def lossy(self) -> list[BackStep]:
        return [s for s in self.steps if s.loses_data]

    @property
    def schema_first(self) -> bool:
        return any(s.old_code_needs_old_schema for s in self.steps)


def _targets(alias: str, state: dict[str, str]) -> list[tuple[str, str | None]]:
    """``migrate`` targets for a recorded state; apps the state does not know go to zero."""
    executor = MigrationExecutor(connections[alias])
    apps = {app for app, _ in executor.loader.graph.nodes}
    return [(app, None if state.get(app, "zero") == "zero" else state[app]) for app in sorted(apps)]


def back_plan(alias: str, state: dict[str, str]) -> BackPlan:
    """The unapply steps from the current state to ``state``, and what each would cost."""
    executor = MigrationExecutor(connections[alias])
    targets = _targets(alias, state)
    plan = executor.migration_plan(targets)
    steps: list[BackStep] = []
    for migration, backwards in plan:
        if not backwards:
            continue
        step = BackStep(f"{migration.app_label}.{migration.name}")
        for operation in migration.operations:
            described = f"{type(operation).__name__}: {operation.describe()}"
            if (
                not operation.reversible
                or (isinstance(operation, RunPython) and operation.reverse_code is None)
                or (isinstance(operation, RunSQL) and operation.reverse_sql is None)
            ):
                step.irreversible.append(described)
            if isinstance(operation, _LOSES_DATA_WHEN_REVERSED):
                step.loses_data.append(described)
            if isinstance(operation, _OLD_CODE_NEEDS_OLD_SCHEMA):
                step.old_code_needs_old_schema = True
        steps.append(step)
    return BackPlan(
        targets={app: leaf or "zero" for app, leaf in targets},
        steps=steps,
    )


def unapply(alias: str, state: dict[str, str]) -> list[str]:
    """Migrate backwards to ``state``; returns the unapplied migrations in order."""
    executor = MigrationExecutor(connections[alias])
    targets = _targets(alias, state)
    plan = executor.migration_plan(targets)
    executor.migrate(targets, plan=plan)
    return [f"{m.app_label}.{m.name}" for m, backwards in plan if backwards]
