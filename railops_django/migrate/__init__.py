"""safe_migrate: plan, lint rules, replica lock, runner and rollback plan.

Public API (used by railway_deploy and emergency_rollback):

- ``run(alias="default", app_label=None, migration_name=None, *, dry_run=False, force=False,
  backup=True, schema_only_backup=False, allow_unsafe=(), lock_timeout_ms=None,
  statement_timeout_ms=None, retries=None, interactive=False) -> Report``
- ``rollback_plan(alias="default", app_label=None, migration_name=None) -> dict`` whose
  ``["targets"]`` is ``{app: leaf before the run or "zero"}``
- ``current_state(alias="default") -> {app_label: leaf applied migration or "zero"}``
"""

from __future__ import annotations

from .pipeline import run
from .plan import ZERO, current_state
from .rollback import rollback_plan
from .rules import RULES

__all__ = ["RULES", "ZERO", "current_state", "rollback_plan", "run"]
