"""Each lint rule fires on a migration that does the dangerous thing, and stays quiet on the safe
alternative or when the table is created in the same plan.

The migrations live in tests/migrate/apps/lintcases; they are linted, never applied.
"""

from __future__ import annotations

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from railops_django.migrate import lint as linting
from railops_django.migrate.plan import Step
from railops_django.migrate.rules import RULES, resolve
from railops_django.report import CannotRun, Severity

APP = "tests.migrate.apps.lintcases"


@pytest.fixture
def lintcases(settings, request):
    # Linting only reads. PostgreSQL collects SQL inside the test's transaction; SQLite's schema
    # editor refuses to run inside one, so it gets the (slower) transactional database.
    sqlite = connections["default"].vendor == "sqlite"
    request.getfixturevalue("transactional_db" if sqlite else "db")
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, APP]
    return MigrationExecutor(connections["default"])


def _lint(ex, first: str, last: str | None = None, allow=()) -> linting.LintResult:
    """Lint lintcases ``first``..``last`` as one plan, with every earlier migration applied."""
    graph = ex.loader.graph
    last = last or first
    chain = [k for k in graph.forwards_plan(("lintcases", last)) if k[0] == "lintcases"]
    names = [k[1] for k in chain]
    keys = chain[names.index(first) :]
    steps = [Step(graph.nodes[k], False) for k in keys]
    state = ex.loader.project_state(keys[0], at_end=False)
    vendor = connections["default"].vendor
    return linting.lint("default", steps, ex, vendor, set(allow), state=state)


def _rules(result: linting.LintResult) -> set[str]:
    return {h.rule.id for h in result.hits}


FIRES = [
    ("0002_add_index", "add_index"),
    ("0004_remove_index", "remove_index"),
    ("0006_concurrently_in_atomic", "concurrently_in_atomic"),
    ("0007_add_not_null", "not_null_without_db_default"),
    ("0009_volatile_default", "volatile_default"),
    ("0010_set_not_null", "set_not_null"),
    ("0011_drop_not_null", "drop_not_null"),
    ("0012_add_fk", "fk_or_check_validated"),
    ("0012_add_fk", "add_index"),
    ("0014_add_check", "fk_or_check_validated"),
    ("0034_add_positive", "fk_or_check_validated"),
    ("0015_add_unique", "add_unique"),
    ("0016_type_change", "unsafe_type_change"),
    ("0018_rename_column", "rename_column"),
    ("0020_rename_table", "rename_table"),
    ("0022_drop_column", "drop_column"),
    ("0025_drop_mapped_column_sql", "drop_column"),
    ("0026_drop_table", "drop_table"),
    ("0027_runsql_no_reverse", "runsql_no_reverse"),
    ("0028_runpython_no_reverse", "runpython_no_reverse"),
    ("0030_runpython_direct_import", "runpython_direct_import"),
    ("0036_runpython_global_model", "runpython_direct_import"),
    ("0031_backfill_with_schema", "backfill_with_schema"),
    ("0032_mixed", "mixed_additive_destructive"),
]

QUIET = [
    ("0003_add_index_concurrently", "add_index"),
    ("0003_add_index_concurrently", "concurrently_in_atomic"),
    ("0005_remove_index_concurrently", "remove_index"),
    ("0008_add_not_null_db_default", "not_null_without_db_default"),
    ("0008_add_not_null_db_default", "volatile_default"),
    ("0011_drop_not_null", "set_not_null"),
    ("0010_set_not_null", "drop_not_null"),
    ("0013_add_fk_no_constraint", "fk_or_check_validated"),
    ("0013_add_fk_no_constraint", "add_index"),
    ("0014_add_check", "add_unique"),
    ("0017_safe_type_change", "unsafe_type_change"),
    ("0019_rename_field_keep_column", "rename_column"),
    ("0021_rename_model_keep_table", "rename_table"),
    ("0021_rename_model_keep_table", "drop_table"),
    ("0023_remove_from_state_only", "drop_column"),
    ("0024_drop_unmapped_column_sql", "drop_column"),
    ("0024_drop_unmapped_column_sql", "runsql_no_reverse"),
    ("0029_runpython_with_reverse", "runpython_no_reverse"),
    ("0029_runpython_with_reverse", "runpython_direct_import"),
    ("0035_runpython_get_model", "runpython_direct_import"),
    ("0029_runpython_with_reverse", "backfill_with_schema"),
    ("0022_drop_column", "mixed_additive_destructive"),
]


def test_rules__every_rule_has_a_firing_and_a_quiet_case():
    assert {r for _, r in FIRES} == set(RULES)
    assert {r for _, r in QUIET} == set(RULES)


@pytest.mark.postgres
@pytest.mark.parametrize(("migration", "rule"), FIRES)
def test_lint__dangerous_migration__rule_fires(lintcases, migration, rule):
    result = _lint(lintcases, migration)
    assert rule in _rules(result), [h.as_dict() for h in result.hits]
    hit = next(h for h in result.hits if h.rule.id == rule)
    finding = hit.finding()
    assert finding.id == f"migrate.lint.{rule}"
    assert finding.fix and "Why:" in finding.detail
    assert finding.severity is (Severity.CRITICAL if RULES[rule].blocking else Severity.WARNING)


@pytest.mark.postgres
@pytest.mark.parametrize(("migration", "rule"), QUIET)
def test_lint__safe_alternative__rule_stays_quiet(lintcases, migration, rule):
    result = _lint(lintcases, migration)
    assert rule not in _rules(result), [h.as_dict() for h in result.hits]


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


@pytest.mark.postgres
def test_lint__tables_created_in_the_same_plan__table_rules_stay_quiet(lintcases):
    result = _lint(lintcases, "0001_initial", "0034_add_positive")
    assert not (_rules(result) & TABLE_RULES), [h.as_dict() for h in result.hits]
    # Rules that do not depend on a table still fire in the same plan.
    assert {"runsql_no_reverse", "runpython_no_reverse", "concurrently_in_atomic"} <= _rules(result)


@pytest.mark.postgres
def test_lint__allow_unsafe_flag__finding_no_longer_blocks(lintcases):
    result = _lint(lintcases, "0002_add_index", allow=resolve(["add_index"]))
    hit = next(h for h in result.hits if h.rule.id == "add_index")
    assert hit.allowed_by == "--allow-unsafe" and not result.blocking()
    assert hit.finding().severity is Severity.WARNING


@pytest.mark.postgres
def test_lint__migration_attribute__allows_its_own_rule_only(lintcases):
    result = _lint(lintcases, "0033_allowed_by_attribute")
    hit = next(h for h in result.hits if h.rule.id == "add_index")
    assert hit.allowed_by and "railops_allow_unsafe" in hit.allowed_by
    assert not result.blocking()


@pytest.mark.postgres
def test_lint__runsql_statement__judged_on_its_sql(lintcases):
    result = _lint(lintcases, "0025_drop_mapped_column_sql")
    hit = next(h for h in result.hits if h.rule.id == "drop_column")
    assert hit.source == "sql" and hit.table == "lintcases_item" and hit.column == "code"


@pytest.mark.postgres
@pytest.mark.parametrize(("rows", "blocks"), [(5e6, True), (1e3, False)])
def test_lint__big_table__migration_allowance_no_longer_covers_lock_rule(lintcases, rows, blocks):
    result = _lint(lintcases, "0033_allowed_by_attribute")
    assert not result.blocking()
    linting.escalate(result, {"lintcases_item": {"rows_estimate": rows, "bytes": 1}})
    assert [h.rule.id for h in result.blocking()] == (["add_index"] if blocks else [])
    if blocks:
        assert "--allow-unsafe add_index" in result.blocking()[0].finding().detail


@pytest.mark.postgres
def test_lint__big_table__allow_unsafe_flag_still_accepts(lintcases):
    result = _lint(lintcases, "0002_add_index", allow={"add_index"})
    linting.escalate(result, {"lintcases_item": {"rows_estimate": 5e6, "bytes": 1}})
    assert not result.blocking()
    assert result.hits[0].rows_estimate == 5e6


@pytest.mark.sqlite
def test_lint__postgres_only_rules_on_sqlite__skipped_not_misreported(lintcases):
    result = _lint(lintcases, "0002_add_index", "0006_concurrently_in_atomic")
    assert not (_rules(result) & {"add_index", "remove_index", "concurrently_in_atomic"})
    assert {"add_index", "concurrently_in_atomic"} <= set(result.skipped_rules)


@pytest.mark.sqlite
def test_lint__portable_rules_on_sqlite__still_fire(lintcases):
    assert "set_not_null" in _rules(_lint(lintcases, "0010_set_not_null"))
    assert "rename_column" in _rules(_lint(lintcases, "0018_rename_column"))


def test_resolve__unknown_rule__cannot_run_lists_the_rules():
    with pytest.raises(CannotRun, match="add_index"):
        resolve(["add_idx"])
    assert resolve(["migrate.lint.add_index", " set_not_null"]) == {"add_index", "set_not_null"}


@pytest.mark.parametrize(
    ("old", "new", "safe"),
    [
        ("varchar(20)", "varchar(40)", True),
        ("varchar(40)", "varchar(20)", False),
        ("varchar(20)", "text", True),
        ("numeric(8, 2)", "numeric(10, 2)", True),
        ("numeric(8, 2)", "numeric(10, 3)", False),
        ("integer", "bigint", False),
        ("text", "varchar(10)", False),
    ],
)
def test_safe_cast__known_casts(old, new, safe):
    assert linting.safe_cast(old, new) is safe


def test_sql_hits__postgres_statements():
    assert ("add_index", "t", None) in linting.sql_hits('CREATE INDEX "i" ON "t" ("a");', True)
    assert linting.sql_hits('CREATE INDEX CONCURRENTLY "i" ON "t" ("a");', False) == []
    assert ("fk_or_check_validated", "t", None) in linting.sql_hits(
        'ALTER TABLE "t" ADD CONSTRAINT "c" CHECK ("a" > 0);', True
    )
    assert ("fk_or_check_validated", "t", None) not in linting.sql_hits(
        'ALTER TABLE "t" ADD CONSTRAINT "c" CHECK ("a" > 0) NOT VALID;', True
    )
    assert ("volatile_default", "t", "u") in linting.sql_hits(
        'ALTER TABLE "t" ADD COLUMN "u" uuid DEFAULT gen_random_uuid() NOT NULL;', True
    )
    assert ("set_not_null", "t", "a") in linting.sql_hits(
        'ALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL;', True
    )


def _unapply_sql(ex, key) -> list[str] | str:
    """Django's own reverse SQL (what sqlmigrate --backwards prints), for comparison."""
    from django.db.migrations.exceptions import IrreversibleError

    migration = ex.loader.graph.nodes[key]
    state = ex.loader.project_state(key, at_end=False)
    connection = connections["default"]
    try:
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            migration.unapply(state, editor, collect_sql=True)
    except IrreversibleError as exc:
        return f"irreversible: {exc}"
    return [line for line in editor.collected_sql if line != "--"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "migration",
    [
        "0002_add_index",
        "0012_add_fk",
        "0018_rename_column",
        "0020_rename_table",
        "0022_drop_column",
    ],
)
def test_reverse_sql__one_walk_of_the_states__same_as_django_unapply(lintcases, migration):
    result = _lint(lintcases, migration)
    ours = result.reverse_sql[f"lintcases.{migration}"]
    theirs = _unapply_sql(lintcases, ("lintcases", migration))
    assert isinstance(ours, list) and ours
    assert [line for line in ours if not line.startswith("--")] == [
        line for line in theirs if not line.startswith("--")
    ]


@pytest.mark.postgres
def test_reverse_sql__irreversible_step__says_so(lintcases):
    result = _lint(lintcases, "0028_runpython_no_reverse")
    assert str(result.reverse_sql["lintcases.0028_runpython_no_reverse"]).startswith("irreversible")
