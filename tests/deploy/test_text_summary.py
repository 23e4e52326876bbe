"""The rollback plan in a text report: counts, the way back, what cannot be reversed or loses
data, and the plan file; JSON keeps the plan whole."""

from __future__ import annotations

import json

import pytest

from railops_django import render
from railops_django.migrate.rollback import summary_lines
from railops_django.report import Report
from tests.utils import run_command

PLAN = {
    "targets": {"shop": "0002_stock", "orders": "zero"},
    "commands": [
        "python manage.py migrate orders zero",
        "python manage.py migrate shop 0002_stock",
    ],
    "reverse_order": [f"shop.{n:04d}_step" for n in range(3, 40)],
    "irreversible": ["shop.0007_step"],
    "loses_data": [f"shop.{n:04d}_step" for n in range(3, 12)],
    "steps": [{"app": "shop", "migration": f"{n:04d}_step"} for n in range(3, 40)],
    "reverse_sql": {f"shop.{n:04d}_step": ["DROP TABLE x;"] for n in range(3, 40)},
    "backup": "default-20260101T000000Z-predeploy",
}


def test_summary_lines__long_plan__counts_commands_irreversible_and_file():
    lines = summary_lines(PLAN, "/backups/rollback-plans/default-1.json")
    assert lines[0] == "rollback plan: 37 migration(s) across 2 app(s), 1 irreversible"
    assert (
        "python manage.py migrate orders zero; python manage.py migrate shop 0002_stock"
        in (lines[1])
    )
    assert "  irreversible: shop.0007_step" in lines
    assert any(line.endswith("and 4 more") for line in lines if "lose data" in line)
    assert lines[-1] == "  full plan: /backups/rollback-plans/default-1.json (and --format json)"
    assert len(lines) <= 7


def test_render_text__prefers_the_summary__json_keeps_the_extra():
    report = Report("safe_migrate", headline="Applied 37 migrations.")
    report.extras["rollback_plan"] = PLAN
    report.text_summary["rollback_plan"] = summary_lines(PLAN)
    text = render.text(report)
    assert text.splitlines()[1] == "Applied 37 migrations."
    assert "reverse_sql" not in text and "DROP TABLE" not in text
    assert len(text.splitlines()) < 15
    data = json.loads(render.as_json(report))
    assert data["rollback_plan"]["reverse_sql"] == PLAN["reverse_sql"]
    assert data["headline"] == "Applied 37 migrations."


@pytest.mark.django_db(transaction=True)
def test_safe_migrate_text__plan_summarised_with_its_file(settings, tmp_path, monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("RAILOPS_BACKUP_DIR", str(tmp_path))
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.deploy.riskapp"]
    try:
        out, err, code = run_command(
            "safe_migrate", "--no-backup", "--allow-unsafe", "rename_column"
        )
        assert code == 0, out + err
        assert "rollback plan: 2 migration(s) across 1 app(s), all reversible" in out
        assert "reverse_order" not in out
        assert f"full plan: {tmp_path}/rollback-plans/" in out
    finally:
        call_command("migrate", "railops_riskapp", "zero", verbosity=0)
