"""The way back, written down before anything is applied.

For each app the plan touches: the leaf it had before this run (or ``zero``), the steps in
reverse order, which of them cannot be reversed, which lose data when reversed, and the reverse
SQL. Written into the report and, as a 0600 JSON file, under ``BACKUP_DIR/rollback-plans/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.db.migrations import operations as ops

from .. import private_dirs, redact, render
from .plan import ZERO, Step, current_state, executor, pending_migrations


def targets(before: dict[str, str], steps: list[Step]) -> dict[str, str]:
    """``{app: leaf before the run or "zero"}`` for every app the plan touches."""
    apps = []
    for step in steps:
        if step.app_label not in apps:
            apps.append(step.app_label)
    return {app: before.get(app, ZERO) for app in apps}


def irreversible_operations(step: Step) -> list[str]:
    return [op.describe() for op in step.migration.operations if not op.reversible]


def data_loss(step: Step) -> list[str]:
    out = []
    for op in step.migration.operations:
        if isinstance(op, ops.AddField):
            out.append(f"reversing '{op.describe()}' drops the column and the data written to it")
        elif isinstance(op, ops.CreateModel):
            out.append(f"reversing '{op.describe()}' drops the table and every row in it")
        elif isinstance(op, ops.RemoveField | ops.DeleteModel):
            out.append(
                f"'{op.describe()}' destroys data going forward; reversing restores an empty "
                "column/table, restore the backup for the data"
            )
        elif isinstance(op, ops.RunPython) and op.reverse_code is not None:
            out.append(f"reversing '{op.describe()}' runs its reverse_code (may delete rows)")
    return out


def changes_data(step: Step) -> bool:
    """True when an operation of ``step`` writes or destroys rows (RunPython, RunSQL, a dropped
    column or table), so a failure part way may leave data changed."""
    return any(
        isinstance(op, ops.RunPython | ops.RunSQL | ops.RemoveField | ops.DeleteModel)
        for op in step.migration.operations
    )


def kept_changes(step: Step) -> list[str]:
    """What applying ``step`` changed that unapplying it does not give back: the data of a
    dropped column or table, and what a RunPython/RunSQL wrote when its reverse is a no-op."""
    out = []
    for op in step.migration.operations:
        if isinstance(op, ops.RemoveField | ops.DeleteModel):
            out.append(f"'{op.describe()}' destroyed the data; unapplying brings it back empty")
        elif (isinstance(op, ops.RunPython) and op.reverse_code is ops.RunPython.noop) or (
            isinstance(op, ops.RunSQL) and op.reverse_sql in ("", [])
        ):
            out.append(f"'{op.describe()}' changed data; its reverse is a no-op")
    return out


def build(
    before: dict[str, str],
    steps: list[Step],
    reverse_sql: dict[str, list[str] | str] | None = None,
    backup: str | None = None,
) -> dict[str, Any]:
    reverse_sql = reverse_sql or {}
    to = targets(before, steps)
    reverse = []
    for step in reversed([s for s in steps if not s.backwards]):
        reverse.append(
            {
                "app": step.app_label,
                "migration": step.name,
                "reversible": not irreversible_operations(step),
                "irreversible_operations": "; ".join(irreversible_operations(step)),
                "data_loss": "; ".join(data_loss(step)),
            }
        )
    irreversible = [f"{r['app']}.{r['migration']}" for r in reverse if not r["reversible"]]
    return {
        "targets": to,
        # Last-touched app first: unapplying it never needs an app that is still to be undone.
        "commands": [
            f"python manage.py migrate {app} {target}" for app, target in reversed(to.items())
        ],
        "reverse_order": [f"{r['app']}.{r['migration']}" for r in reverse],
        "all_reversible": not irreversible,
        "irreversible": irreversible,
        "loses_data": [f"{r['app']}.{r['migration']}" for r in reverse if r["data_loss"]],
        "steps": reverse,
        "reverse_sql": {
            f"{r['app']}.{r['migration']}": reverse_sql.get(f"{r['app']}.{r['migration']}", [])
            for r in reverse
        },
        "backup": backup,
    }


def rollback_plan(
    alias: str = "default", app_label: str | None = None, migration_name: str | None = None
) -> dict[str, Any]:
    """The rollback plan for what ``safe_migrate [app_label] [migration_name]`` would apply now.

    ``["targets"]`` is ``{app: leaf before the run or "zero"}``; ``["commands"]`` the
    ``migrate`` commands that return there.
    """
    ex = executor(alias)
    steps = pending_migrations(ex, app_label, migration_name)
    return build(current_state(alias, ex), steps)


def write(plan: dict[str, Any], alias: str) -> Path:
    """Store the plan as ``BACKUP_DIR/rollback-plans/<alias>-<UTC stamp>.json`` (mode 0600)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = private_dirs.backup_dir() / "rollback-plans" / f"{alias}-{stamp}.json"
    content = json.dumps(redact.mask_value(plan), indent=2) + "\n"  # masked values, serialised
    render.write_private_file(path, content)
    if plan.get("backup"):  # and next to its backup, in every storage that holds it
        from ..backup.catalog import attach_rollback_plan

        try:
            attach_rollback_plan(str(plan["backup"]), content.encode())
        except Exception as exc:  # the local copy above stands
            redact.logger.warning("rollback plan not stored next to %s: %s", plan["backup"], exc)
    return path


SUMMARY_NAMES = 5  # migration names listed per line of the text summary before "and N more"


def _names(keys: list[str], limit: int = SUMMARY_NAMES) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def summary_lines(plan: dict[str, Any], path: str | None = None) -> list[str]:
    """The rollback plan as a person reads it in a text report: counts, the commands, what cannot
    be reversed and what loses data, and where the whole plan is (JSON keeps it in full)."""
    steps = plan.get("steps") or []
    targets = plan.get("targets") or {}
    commands = list(plan.get("commands") or [])
    irreversible = list(plan.get("irreversible") or [])
    loses = list(plan.get("loses_data") or [])
    lines = [
        f"rollback plan: {len(steps)} migration(s) across {len(targets)} app(s), "
        + ("all reversible" if not irreversible else f"{len(irreversible)} irreversible")
    ]
    if commands:
        first_deploy = bool(targets) and all(t == ZERO for t in targets.values())
        shown = "; ".join(commands[:3])
        more = f" (and {len(commands) - 3} more)" if len(commands) > 3 else ""
        lines.append(
            "  way back: "
            + (
                "every app to zero (the run started from an empty database): "
                if first_deploy
                else ""
            )
            + shown
            + more
        )
    lines.append(f"  irreversible: {_names(irreversible, 10)}")
    lines.append(f"  lose data when reversed: {_names(loses)}")
    if plan.get("backup"):
        lines.append(f"  backup to restore: {plan['backup']}")
    lines.append(
        f"  full plan: {path} (and --format json)" if path else "  full plan: --format json"
    )
    return lines
