"""The lint judges a table by what it is at that moment: created earlier in the plan (whatever
it is called now), empty, small or big; and reads the whole migration before a risky step.

Apps: tests/migrate/apps/{renamecase,sizecase,fixcase,peer_followed_default,peer_null_db_default}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from railops_django import migrate
from railops_django.migrate import lint as linting
from railops_django.migrate.plan import Step
from railops_django.report import Severity
from tests.utils import ROOT

TABLE_RULES = {
    "add_index",
    "remove_index",
    "not_null_without_db_default",
    "volatile_default",
    "set_not_null",
    "fk_or_check_validated",
    "add_unique",
    "unsafe_type_change",
    "rename_column",
    "rename_table",
    "drop_column",
    "drop_table",
    "drop_not_null",
    "backfill_with_schema",
    "mixed_additive_destructive",
}


@pytest.fixture
def linted(settings, request):
    """Lint ``app`` ``first``..``last`` as one plan (nothing applied; state before ``first``)."""
    sqlite = connections["default"].vendor == "sqlite"
    request.getfixturevalue("transactional_db" if sqlite else "db")
    installed: list[str] = []

    def run(app: str, first: str, last: str) -> linting.LintResult:
        if app not in installed:
            installed.append(app)
            settings.INSTALLED_APPS = [
                *settings.INSTALLED_APPS,
                *(f"tests.migrate.apps.{a}" for a in installed),
            ]
        ex = MigrationExecutor(connections["default"])
        graph = ex.loader.graph
        chain = [k for k in graph.forwards_plan((app, last)) if k[0] == app]
        keys = chain[[k[1] for k in chain].index(first) :]
        state = ex.loader.project_state(keys[0], at_end=False)
        steps = [Step(graph.nodes[k], False) for k in keys]
        vendor = connections["default"].vendor
        return linting.lint("default", steps, ex, vendor, set(), state=state)

    return run


def _rules(result: linting.LintResult) -> set[str]:
    return {h.rule.id for h in result.hits}


def test_rename_following__created_then_renamed_in_one_plan__no_table_finding(linted):
    result = linted("renamecase", "0001_initial", "0002_rename_and_change")
    assert not (_rules(result) & TABLE_RULES), [h.as_dict() for h in result.hits]
    assert {"renamecase_note", "renamecase_boxes"} <= result.created_tables


def test_rename_following__same_steps_on_tables_that_existed__findings(linted):
    # The control: with 0001 applied before the plan, the same steps are findings.
    result = linted("renamecase", "0002_rename_and_change", "0002_rename_and_change")
    rules = _rules(result)
    assert {"rename_table", "rename_column", "not_null_without_db_default"} <= rules
    tables = {h.table for h in result.hits}
    assert "renamecase_note" in tables and "renamecase_box" in tables


@pytest.mark.postgres  # the custom operation is read through its SQL
def test_swappable__model_swapped_out__its_operations_are_not_judged(linted, settings):
    settings.RAILOPS_TEST_ACCOUNT_MODEL = "swapcase.Account"
    assert "add_index" in _rules(linted("swapcase", "0002_account_nick", "0002_account_nick"))
    settings.RAILOPS_TEST_ACCOUNT_MODEL = "auth.User"  # swapped out: no table, nothing runs
    assert not _rules(linted("swapcase", "0002_account_nick", "0002_account_nick"))


def test_separate_database_and_state__adopted_table_judged_created_table_not(linted):
    result = linted("sepcase", "0001_initial", "0001_initial")
    assert {(h.rule.id, h.table) for h in result.hits if h.table} == {
        ("not_null_without_db_default", "sepcase_legacy")
    }
    assert "sepcase_fresh" in result.created_tables


def test_separate_database_and_state__model_adopting_a_table_created_in_the_plan__is_new(linted):
    # django-oscar's case: customer.0001 creates a table, communication.0001 adopts it with a
    # state-only CreateModel, later ones rename and change it: all on a table this plan created.
    result = linted("adoptcase", "0001_initial", "0004_change")
    assert not (_rules(result) & TABLE_RULES), [h.as_dict() for h in result.hits]
    # The control: with the table there before the plan, the same change is a finding.
    assert "drop_column" in _rules(linted("adoptcase", "0004_change", "0004_change"))


@pytest.mark.postgres  # the custom operation is read through its SQL
def test_peer_case__not_null_followed_by_db_default__safe(linted):
    result = linted("peer_followed_default", "0002_entry_rank", "0002_entry_rank")
    assert "not_null_without_db_default" not in _rules(result), [h.as_dict() for h in result.hits]


def test_peer_case__db_default_none_on_not_null__dangerous(linted):
    result = linted("peer_null_db_default", "0002_entry_rank", "0002_entry_rank")
    [hit] = [h for h in result.hits if h.rule.id == "not_null_without_db_default"]
    assert hit.table == "peer_null_db_default_entry" and hit.column == "rank"
    assert hit.finding().severity is Severity.CRITICAL


def _fill(table: str, rows: int) -> None:
    with connections["default"].cursor() as cursor:
        if connections["default"].vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} (name) SELECT 'n' || g FROM generate_series(1, %s) g",
                [rows],
            )
        else:
            cursor.execute(
                f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s) "
                f"INSERT INTO {table} (name) SELECT 'n' || n FROM g",
                [rows],
            )


def _lint_findings(payload: dict) -> dict[str, dict]:
    return {
        f["id"].removeprefix("migrate.lint."): f
        for f in payload["findings"]
        if f["id"].startswith("migrate.lint.")
    }


@pytest.mark.postgres
def test_live_size__2000_rows__index_and_int_default_warn_with_safe_way__big_table_blocks(
    migrate_apps,
):
    migrate_apps("sizecase")
    call_command("migrate", "sizecase", "0001", verbosity=0)
    _fill("sizecase_row", 2_000)
    payload = migrate.run("default", "sizecase", dry_run=True, backup=False).as_dict()
    found = _lint_findings(payload)
    assert payload["exit_code"] == 0, payload["findings"]
    assert found["add_index"]["severity"] == "warning"
    assert "AddIndexConcurrently" in found["add_index"]["fix"]
    assert "2,000 rows" in found["add_index"]["detail"]
    assert found["not_null_without_db_default"]["severity"] == "warning"
    assert "db_default" in found["not_null_without_db_default"]["fix"]
    assert "migrate.blocked" not in [f["id"] for f in payload["findings"]]

    started = time.monotonic()
    _fill("sizecase_row", 120_000)  # above MIGRATION_LOCK_RISK_ROWS (100,000)
    assert time.monotonic() - started < 10
    payload = migrate.run("default", "sizecase", dry_run=True, backup=False).as_dict()
    found = _lint_findings(payload)
    assert payload["exit_code"] == 2
    assert found["add_index"]["severity"] == "critical"
    assert found["not_null_without_db_default"]["severity"] == "critical"
    blocked = next(f for f in payload["findings"] if f["id"] == "migrate.blocked")
    assert "add_index" in blocked["detail"] and "not_null_without_db_default" in blocked["detail"]
    assert migrate.current_state()["sizecase"] == "0001_initial"


@pytest.mark.postgres
def test_live_size__empty_table__lock_rule_says_nothing(migrate_apps):
    migrate_apps("sizecase")
    call_command("migrate", "sizecase", "0001", verbosity=0)
    payload = migrate.run("default", "sizecase", "0002", dry_run=True, backup=False).as_dict()
    assert payload["exit_code"] == 0, payload["findings"]
    assert "add_index" not in _lint_findings(payload)


def test_live_size__threshold_setting__small_table_blocks_when_set_lower(migrate_apps, settings):
    migrate_apps("sizecase")
    call_command("migrate", "sizecase", "0002", verbosity=0)
    _fill("sizecase_row", 2_000)
    payload = migrate.run("default", "sizecase", dry_run=True, backup=False).as_dict()
    assert _lint_findings(payload)["not_null_without_db_default"]["severity"] == "warning"
    settings.RAILOPS = {**settings.RAILOPS, "MIGRATION_LOCK_RISK_ROWS": 1_000}
    payload = migrate.run("default", "sizecase", dry_run=True, backup=False).as_dict()
    assert _lint_findings(payload)["not_null_without_db_default"]["severity"] == "critical"
    assert payload["exit_code"] == 2


def test_compat_rule__existing_empty_table__keeps_its_severity_setting_lowers_it(
    migrate_apps, settings
):
    migrate_apps("unsafe")
    call_command("migrate", "unsafe", "0001", verbosity=0)
    payload = migrate.run("default", "unsafe", dry_run=True, backup=False).as_dict()
    assert _lint_findings(payload)["rename_column"]["severity"] == "critical"
    settings.RAILOPS = {**settings.RAILOPS, "MIGRATION_COMPAT_SEVERITY": "warning"}
    payload = migrate.run("default", "unsafe", dry_run=True, backup=False).as_dict()
    assert _lint_findings(payload)["rename_column"]["severity"] == "warning"
    assert payload["exit_code"] == 0


@pytest.mark.postgres
def test_preflight__data_fix_before_set_not_null__info_not_critical(migrate_apps):
    migrate_apps("fixcase")
    call_command("migrate", "fixcase", "0001", verbosity=0)
    with connections["default"].cursor() as cursor:
        cursor.execute("INSERT INTO fixcase_site (site_name) VALUES (NULL), ('a')")
    payload = migrate.run("default", "fixcase", dry_run=True, backup=False).as_dict()
    [nulls] = [f for f in payload["findings"] if f["id"] == "migrate.preflight.nulls"]
    assert nulls["severity"] == "info" and "UPDATE fixcase_site" in nulls["detail"]
    assert payload["exit_code"] == 0, payload["findings"]
    assert not [f for f in payload["findings"] if f["severity"] == "critical"]


@pytest.mark.postgres
def test_preflight__alter_field_with_default_fills_nulls_itself__info(migrate_apps):
    migrate_apps("fillcase")
    call_command("migrate", "fillcase", "0001", verbosity=0)
    with connections["default"].cursor() as cursor:
        cursor.execute("INSERT INTO fillcase_site (site_name) VALUES (NULL)")
    payload = migrate.run("default", "fillcase", dry_run=True, backup=False).as_dict()
    [nulls] = [f for f in payload["findings"] if f["id"] == "migrate.preflight.nulls"]
    assert nulls["severity"] == "info" and "default" in nulls["detail"]
    assert payload["exit_code"] == 0, payload["findings"]


@pytest.mark.postgres
def test_live_size__table_renamed_in_the_plan__measured_under_its_name_in_the_database(
    migrate_apps,
):
    migrate_apps("renamecase")
    call_command("migrate", "renamecase", "0001", verbosity=0)
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO renamecase_draft (title) SELECT 't' || g FROM generate_series(1, 2000) g"
        )
    payload = migrate.run("default", "renamecase", dry_run=True, backup=False).as_dict()
    found = _lint_findings(payload)
    # renamecase_note is renamecase_draft in the database: 2,000 rows, so a warning.
    assert found["add_index"]["severity"] == "warning", found["add_index"]
    assert "2,000 rows" in found["add_index"]["detail"]
    assert found["rename_table"]["severity"] == "critical"  # compatibility: any size


WAGTAIL_LINT = textwrap.dedent(
    """
    import json, time, django
    django.setup()
    from railops_django.migrate import lint
    from railops_django.migrate.plan import executor, pending_migrations
    ex = executor("default")
    steps = pending_migrations(ex)
    started = time.monotonic()
    result = lint.lint("default", steps, ex, "postgresql", set())
    print(json.dumps({"steps": len(steps), "seconds": time.monotonic() - started,
                      "hits": [h.as_dict() for h in result.hits],
                      "rendered": result.rendered_steps}))
    """
)


@pytest.mark.postgres
def test_wagtail_from_empty_database__no_finding_about_tables_created_in_the_run(tmp_path):
    pytest.importorskip("wagtail")
    wagtail = os.path.join(os.path.dirname(sys.executable), "wagtail")
    subprocess.run([wagtail, "start", "mysite", str(tmp_path)], check=True, capture_output=True)
    with open(tmp_path / "mysite" / "settings" / "base.py", "a") as fh:
        fh.write(
            "\nimport os\nimport dj_database_url\nINSTALLED_APPS = [*INSTALLED_APPS, 'railops_django']\n"
            "DATABASES = {'default': dj_database_url.parse(os.environ['DATABASE_URL'])}\n"
        )
    sd = connections["default"].settings_dict
    name = f"{sd['NAME']}_wagtail_lint"[:63]
    admin = psycopg.connect(
        host=sd["HOST"] or "127.0.0.1",
        port=sd["PORT"] or 5432,
        user=sd["USER"] or "postgres",
        password=sd["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{sd['USER'] or 'postgres'}@{sd['HOST'] or '127.0.0.1'}:{sd['PORT'] or 5432}/{name}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", WAGTAIL_LINT],
            cwd=tmp_path,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}",
                "DJANGO_SETTINGS_MODULE": "mysite.settings.dev",
                "DATABASE_URL": url,
                "PGPASSWORD": sd["PASSWORD"] or "",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["steps"] > 150
    table_hits = [h for h in out["hits"] if h["table"] or h["rule"] in TABLE_RULES]
    assert table_hits == []
    direct = {h["migration"] for h in out["hits"] if h["rule"] == "runpython_direct_import"}
    # 0059 really calls the imported Collection; the squashed images migration only imports.
    assert direct == {"wagtailcore.0059_apply_collection_ordering"}
    # Nothing to render on tables created in the run: planning stays cheap.
    assert out["rendered"] <= 5 and out["seconds"] < 5, out
