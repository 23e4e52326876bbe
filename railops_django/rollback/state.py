"""What the database's migration state is, against the code's, and what going back would cost."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import (
    AlterField,
    DeleteModel,
    RemoveField,
    RenameField,
    RenameModel,
)

from ..migrate.plan import Step, executor, pending_migrations
from ..migrate.rollback import data_loss, irreversible_operations

# Reversing these means the *old* code needs the *old* schema back before it can run.
_OLD_CODE_NEEDS_OLD_SCHEMA = (RemoveField, DeleteModel, RenameField, RenameModel, AlterField)


@dataclass(frozen=True)
class MigrationGap:
    pending: list[str]
    unknown_applied: list[str]  # applied in the database, absent from the code


def gap(alias: str) -> MigrationGap:
    ex = executor(alias)
    applied = ex.recorder.applied_migrations()
    known = set(ex.loader.graph.nodes)
    replaced = {r for m in ex.loader.disk_migrations.values() for r in m.replaces}
    unknown = sorted(
        f"{app}.{name}" for app, name in applied if (app, name) not in known | replaced
    )
    return MigrationGap(
        pending=[step.key for step in pending_migrations(ex)],
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


def _targets(ex: MigrationExecutor, state: dict[str, str]) -> list[tuple[str, str | None]]:
    """``migrate`` targets for a recorded state; apps the state does not know go to zero."""
    apps = {app for app, _ in ex.loader.graph.nodes}
    return [(app, None if state.get(app, "zero") == "zero" else state[app]) for app in sorted(apps)]


def back_plan(alias: str, state: dict[str, str]) -> BackPlan:
    """The unapply steps from the current state to ``state``, and what each would cost."""
    ex = executor(alias)
    targets = _targets(ex, state)
    plan = ex.migration_plan(targets)
    steps: list[BackStep] = []
    for migration, backwards in plan:
        if not backwards:
            continue
        planned = Step(migration, backwards=True)
        # The same judgement safe_migrate writes into its rollback plans.
        step = BackStep(
            planned.key,
            irreversible=irreversible_operations(planned),
            loses_data=data_loss(planned),
            old_code_needs_old_schema=any(
                isinstance(operation, _OLD_CODE_NEEDS_OLD_SCHEMA)
                for operation in migration.operations
            ),
        )
        steps.append(step)
    return BackPlan(
        targets={app: leaf or "zero" for app, leaf in targets},
        steps=steps,
    )


def unapply(alias: str, state: dict[str, str]) -> list[str]:
    """Migrate backwards to ``state``; returns the unapplied migrations in order."""
    ex = executor(alias)
    targets = _targets(ex, state)
    plan = ex.migration_plan(targets)
    ex.migrate(targets, plan=plan)
    return [f"{m.app_label}.{m.name}" for m, backwards in plan if backwards]
