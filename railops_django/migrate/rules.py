"""The lint rules: what each one catches, why it hurts in production, and the safe way instead.

A migration may accept a rule for itself by naming it on the Migration class::

    class Migration(migrations.Migration):
        railops_allow_unsafe = ["add_index"]   # small table, checked by hand

``safe_migrate --allow-unsafe add_index`` does the same for one run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..report import CannotRun

BOTH = ("postgresql", "sqlite")
PG = ("postgresql",)
ALLOW_ATTRIBUTE = "railops_allow_unsafe"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    why: str
    fix: str
    blocking: bool
    vendors: tuple[str, ...] = BOTH
    rank: int = 20

    @property
    def finding_id(self) -> str:
        return f"migrate.lint.{self.id}"


RULES: dict[str, Rule] = {
    r.id: r
    for r in [
        Rule(
            "add_index",
            "index created without CONCURRENTLY",
            "CREATE INDEX takes a SHARE lock: every INSERT/UPDATE/DELETE on the table waits "
            "until the whole index is built.",
            "Use AddIndexConcurrently (django.contrib.postgres.operations) in a migration with "
            "atomic = False.",
            blocking=True,
            vendors=PG,
        ),
        Rule(
            "remove_index",
            "index dropped without CONCURRENTLY",
            "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table; behind a long transaction "
            "it queues every query on it.",
            "Use RemoveIndexConcurrently in a migration with atomic = False.",
            blocking=True,
            vendors=PG,
        ),
        Rule(
            "concurrently_in_atomic",
            "CONCURRENTLY inside an atomic migration",
            "PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY inside a transaction block, so "
            "the migration fails in production.",
            "Set atomic = False on the Migration and keep the CONCURRENTLY step alone in it.",
            blocking=True,
            vendors=PG,
            rank=10,
        ),
        Rule(
            "not_null_without_db_default",
            "NOT NULL column added without a database default",
            "Django drops the default after adding the column, so the previous release (still "
            "serving while you deploy) fails on every INSERT that omits the column.",
            "Give the field db_default=... (Django 5+), or add it null=True, backfill, then set "
            "NOT NULL in a later release.",
            blocking=True,
        ),
        Rule(
            "volatile_default",
            "column added with a volatile default",
            "A volatile default (random(), gen_random_uuid(), clock_timestamp(), a sequence) "
            "makes PostgreSQL rewrite the whole table under an ACCESS EXCLUSIVE lock.",
            "Add the column without a default (or a constant one), backfill in batches, then "
            "set the default for new rows.",
            blocking=True,
            vendors=PG,
        ),
        Rule(
            "set_not_null",
            "NOT NULL set on an existing column",
            "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock, and fails if "
            "any row is NULL.",
            "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later migration, "
            "then SET NOT NULL (PostgreSQL 12+ skips the scan) and drop the check.",
            blocking=True,
        ),
        Rule(
            "fk_or_check_validated",
            "foreign key or CHECK validated in place",
            "Adding a validated FOREIGN KEY or CHECK scans the table while holding a lock that "
            "blocks writes (and, for a foreign key, the referenced table too).",
            "Add the constraint NOT VALID, then VALIDATE CONSTRAINT in a separate migration "
            "(it takes only a SHARE UPDATE EXCLUSIVE lock).",
            blocking=True,
            vendors=PG,
        ),
        Rule(
            "add_unique",
            "UNIQUE added to an existing table",
            "Adding UNIQUE builds an index under a lock that blocks writes, and fails if the "
            "table already holds duplicates.",
            "CREATE UNIQUE INDEX CONCURRENTLY (non-atomic migration), then ADD CONSTRAINT ... "
            "UNIQUE USING INDEX.",
            blocking=True,
            vendors=PG,
        ),
        Rule(
            "unsafe_type_change",
            "column type changed outside the safe casts",
            "Most type changes rewrite the table and every index under an ACCESS EXCLUSIVE "
            "lock; the previous release may also not understand the new type.",
            "Add a new column of the new type, dual-write and backfill, switch reads, then drop "
            "the old one. Safe in place: varchar(n) to varchar(m>n) or text, numeric(p,s) to "
            "numeric(p2>=p,s).",
            blocking=True,
            vendors=PG,
        ),
        Rule(
            "rename_column",
            "column renamed",
            "The previous release keeps querying the old name until every replica is "
            "replaced, so it fails during the deploy.",
            "Keep the column and rename only the field (db_column='old_name'), or add the new "
            "column, copy, switch the code, then drop the old one.",
            blocking=True,
        ),
        Rule(
            "rename_table",
            "table renamed",
            "The previous release keeps querying the old table name during the deploy.",
            "Rename only the model and keep the table (Meta.db_table='old_table').",
            blocking=True,
        ),
        Rule(
            "drop_column",
            "column dropped that running code may still read",
            "The previous release selects every model column, so it fails until every replica "
            "runs the new code; if this release still maps the column it fails right away.",
            "Two releases: first remove the field from the code and the state only "
            "(SeparateDatabaseAndState), then drop the column in the next release.",
            blocking=True,
        ),
        Rule(
            "drop_table",
            "table dropped that running code may still read",
            "The previous release still queries the table until every replica is replaced.",
            "Two releases: first remove the model from the code (SeparateDatabaseAndState), "
            "then drop the table in the next release.",
            blocking=True,
        ),
        Rule(
            "drop_not_null",
            "NOT NULL dropped",
            "The previous release may assume the value is always there; and the way back "
            "(SET NOT NULL) fails once NULLs exist.",
            "Make sure the code handles NULL first; plan the rollback as irreversible.",
            blocking=False,
            rank=40,
        ),
        Rule(
            "runsql_no_reverse",
            "RunSQL without reverse_sql",
            "The migration cannot be unapplied: a failed deploy cannot be rolled back with "
            "'migrate'.",
            "Give RunSQL a reverse_sql (migrations.RunSQL.noop when nothing needs undoing).",
            blocking=False,
            rank=30,
        ),
        Rule(
            "runpython_no_reverse",
            "RunPython without reverse_code",
            "The migration cannot be unapplied: a failed deploy cannot be rolled back with "
            "'migrate'.",
            "Give RunPython a reverse_code (migrations.RunPython.noop when nothing needs undoing).",
            blocking=False,
            rank=30,
        ),
        Rule(
            "runpython_direct_import",
            "RunPython imports models directly",
            "A model imported from the app is today's model, not the historical one: the "
            "migration breaks as soon as the model changes.",
            "Use apps.get_model('app', 'Model') inside the function.",
            blocking=False,
            rank=30,
        ),
        Rule(
            "backfill_with_schema",
            "data backfill in the same migration as schema changes",
            "The schema change's lock is held for the whole backfill, blocking the table for "
            "as long as the data takes.",
            "Split it: schema change in one migration, backfill (in batches) in another.",
            blocking=True,
        ),
        Rule(
            "mixed_additive_destructive",
            "migration mixes additive and destructive steps",
            "Adding and dropping in one migration makes it impossible to deploy without "
            "breaking either the previous or the new release, and hard to roll back.",
            "Put the additive steps in this release and the destructive ones in the next.",
            blocking=False,
            rank=40,
        ),
    ]
}


def resolve(names: list[str] | tuple[str, ...]) -> set[str]:
    """Rule ids from ``--allow-unsafe`` (``add_index`` or ``migrate.lint.add_index``)."""
    chosen: set[str] = set()
    for raw in names:
        name = raw.strip().removeprefix("migrate.lint.")
        if not name:
            continue
        if name not in RULES:
            known = ", ".join(sorted(RULES))
            raise CannotRun(f"unknown rule {raw!r} in --allow-unsafe: use one of {known}")
        chosen.add(name)
    return chosen
