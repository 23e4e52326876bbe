"""What would run: Django's MigrationExecutor plan, conflicts, and the per-app current state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState

from ..report import CannotRun

ZERO = "zero"


@dataclass(frozen=True)
class Step:
    migration: Migration
    backwards: bool

    @property
    def app_label(self) -> str:
        return str(self.migration.app_label)

    @property
    def name(self) -> str:
        return str(self.migration.name)

    @property
    def key(self) -> str:
        return f"{self.app_label}.{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app_label,
            "migration": self.name,
            "direction": "backwards" if self.backwards else "forwards",
            "atomic": bool(self.migration.atomic),
            "operations": len(self.migration.operations),
        }


def executor(alias: str) -> MigrationExecutor:
    return MigrationExecutor(connections[alias])


def applied_state(ex: MigrationExecutor) -> ProjectState:
    """The project state of every applied migration, as ``migrate`` builds it before applying."""
    return ex._create_project_state(with_applied_migrations=True)  # type: ignore[attr-defined,no-any-return,unused-ignore]


def check_conflicts(loader: MigrationLoader) -> None:
    conflicts = loader.detect_conflicts()
    if conflicts:
        names = "; ".join(
            f"{app}: {', '.join(sorted(leaves))}" for app, leaves in conflicts.items()
        )
        raise CannotRun(
            f"conflicting migrations (more than one leaf) in {names}: "
            "run 'python manage.py makemigrations --merge' and commit the merge migration"
        )


def targets(
    loader: MigrationLoader, app_label: str | None, migration_name: str | None
) -> list[tuple[str, str | None]]:
    """The executor targets for ``[app_label] [migration_name]``, as ``migrate`` resolves them."""
    if app_label is None:
        if migration_name is not None:
            raise CannotRun("a migration name needs an app label: safe_migrate APP MIGRATION")
        return list(loader.graph.leaf_nodes())
    if app_label not in loader.migrated_apps:
        known = ", ".join(sorted(loader.migrated_apps))
        raise CannotRun(
            f"app {app_label!r} has no migrations or is not installed: use one of {known}"
        )
    if migration_name is None:
        return [key for key in loader.graph.leaf_nodes() if key[0] == app_label]
    if migration_name == ZERO:
        return [(app_label, None)]
    try:
        migration = loader.get_migration_by_prefix(app_label, migration_name)
    except AmbiguityError:
        raise CannotRun(
            f"more than one migration of {app_label} matches {migration_name!r}: "
            "give more of its name (see 'python manage.py showmigrations " + app_label + "')"
        ) from None
    except KeyError:
        raise CannotRun(
            f"no migration of {app_label} matches {migration_name!r}: "
            f"see 'python manage.py showmigrations {app_label}'"
        ) from None
    return [(app_label, migration.name)]


def pending_migrations(
    ex: MigrationExecutor, app_label: str | None = None, migration_name: str | None = None
) -> list[Step]:
    """The plan in global order (cross-app dependencies respected), after a conflict check."""
    check_conflicts(ex.loader)
    plan = ex.migration_plan(targets(ex.loader, app_label, migration_name))
    directions = {backwards for _, backwards in plan}
    if len(directions) > 1:
        raise CannotRun(
            "the target needs both applying and unapplying migrations: migrate in two steps "
            "(first back, then forward)"
        )
    return [Step(migration, backwards) for migration, backwards in plan]


def current_state(alias: str = "default", ex: MigrationExecutor | None = None) -> dict[str, str]:
    """``{app_label: leaf applied migration or "zero"}`` for every app with migrations."""
    ex = ex or executor(alias)
    graph = ex.loader.graph
    applied = {key for key in ex.loader.applied_migrations if key in graph.nodes}
    state: dict[str, str] = {}
    for app_label in sorted(ex.loader.migrated_apps):
        mine = [key for key in applied if key[0] == app_label]
        if not mine:
            state[app_label] = ZERO
            continue
        # The applied node of this app that no other applied node of the app descends from.
        leaves = [
            key
            for key in mine
            if not any(
                child.key in applied and child.key[0] == app_label
                for child in graph.node_map[key].children
            )
        ]
        state[app_label] = max(leaves or mine)[1]
    return state


def by_app(steps: list[Step]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for step in steps:
        grouped.setdefault(step.app_label, []).append(step.name)
    return grouped
