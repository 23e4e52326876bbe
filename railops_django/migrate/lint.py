"""Lint every pending migration: operation by operation, and on the SQL ``sqlmigrate`` produces.

Operations Django ships are judged on the operation (it knows the old and new field, so it can
tell a safe cast from a rewrite). Operations it cannot see through (RunSQL, custom operations,
SeparateDatabaseAndState's database side) are judged on their SQL for the active backend.

A rule stays quiet for a table created earlier in the same plan: nothing reads it yet.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as global_apps
from django.db import connections, models
from django.db.migrations import operations as ops
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from ..redact import logger
from ..report import Finding, Severity
from .plan import Step, applied_state
from .rules import ALLOW_ATTRIBUTE, RULES, Rule

BIG_TABLE_ROWS = 1_000_000
BIG_TABLE_BYTES = 1 << 30

try:  # django.contrib.postgres is importable without psycopg; keep it optional anyway
    from django.contrib.postgres.operations import (
        AddIndexConcurrently,
        RemoveIndexConcurrently,
    )

    CONCURRENT_OPS: tuple[type, ...] = (AddIndexConcurrently, RemoveIndexConcurrently)
except ImportError:  # pragma: no cover
    CONCURRENT_OPS = ()


@dataclass
class Hit:
    rule: Rule
    migration: str
    table: str | None = None
    column: str | None = None
    detail: str = ""
    source: str = "operation"
    allowed_by: str | None = None
    blocking: bool = False
    rows_estimate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "migration": self.migration,
            "table": self.table,
            "column": self.column,
            "source": self.source,
            "blocking": self.blocking,
            "allowed_by": self.allowed_by,
        }

    def finding(self) -> Finding:
        if self.blocking and not self.allowed_by:
            severity, verdict = Severity.CRITICAL, "blocks the run"
        elif self.allowed_by:
            severity, verdict = Severity.WARNING, f"allowed by {self.allowed_by}"
        else:
            severity, verdict = Severity.WARNING, "does not block the run"
        where = ".".join(p for p in (self.table, self.column) if p)
        detail = f"{self.detail}\nWhy: {self.rule.why}".strip()
        if self.rows_estimate is not None:
            detail += f"\nThe table holds about {self.rows_estimate:,.0f} rows."
        return Finding(
            id=self.rule.finding_id,
            severity=severity,
            title=f"{self.migration}: {self.rule.title}" + (f" ({where})" if where else ""),
            detail=detail + f"\n({verdict})",
            fix=self.rule.fix
            + (
                f" Or accept it: --allow-unsafe {self.rule.id}, or "
                f"{ALLOW_ATTRIBUTE} = [{self.rule.id!r}] on the Migration."
                if self.blocking and not self.allowed_by
                else ""
            ),
            rank=self.rule.rank,
            data=self.as_dict(),
        )


@dataclass
class Touch:
    """What a step does to a table, for the live pre-flight."""

    table: str
    migration: str
    kind: str  # alter | set_not_null | add_unique | drop | ...
    columns: tuple[str, ...] = ()


@dataclass
class LintResult:
    hits: list[Hit] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    skipped_rules: list[str] = field(default_factory=list)
    sql: dict[str, list[str]] = field(default_factory=dict)
    reverse_sql: dict[str, list[str] | str] = field(default_factory=dict)
    created_tables: set[str] = field(default_factory=set)

    def blocking(self) -> list[Hit]:
        return [h for h in self.hits if h.blocking and not h.allowed_by]

    def findings(self) -> list[Finding]:
        return [h.finding() for h in self.hits]


# --- helpers -------------------------------------------------------------------------------


def _table(state: ProjectState, app_label: str, model_name: str) -> str:
    model_state = state.models.get((app_label, model_name.lower()))
    if model_state is not None and model_state.options.get("db_table"):
        return str(model_state.options["db_table"])
    return f"{app_label}_{model_name.lower()}"


def _field(state: ProjectState, app_label: str, model_name: str, name: str) -> Any:
    model_state = state.models.get((app_label, model_name.lower()))
    if model_state is None:
        return None
    return model_state.fields.get(name)


def _column(fld: Any, name: str) -> str:
    return str(getattr(fld, "db_column", None) or (f"{name}_id" if fld.is_relation else name))


def _db_type(fld: Any, connection: Any) -> str | None:
    try:
        value = fld.db_type(connection)
    except Exception:  # relations need their target model; judged elsewhere
        return None
    return str(value).lower() if value else None


_VARCHAR = re.compile(r"^(?:varchar|character varying)\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")


def safe_cast(old: str, new: str) -> bool:
    """Type changes PostgreSQL does without a rewrite."""
    if old == new:
        return True
    old_v, new_v = _VARCHAR.match(old), _VARCHAR.match(new)
    if old_v and (new == "text" or (new_v and int(new_v[1]) >= int(old_v[1]))):
        return True
    if old_v is None and old in ("varchar", "character varying") and new == "text":
        return True
    old_n, new_n = _NUMERIC.match(old), _NUMERIC.match(new)
    if old_n and new_n and int(new_n[1]) >= int(old_n[1]) and new_n[2] == old_n[2]:
        return True
    return (old, new) in {("cidr", "inet"), ("varbit", "bit varying")}


VOLATILE = re.compile(
    r"\b(random|gen_random_uuid|uuid_generate_v[14]|clock_timestamp|timeofday|nextval|"
    r"statement_timestamp)\s*\(",
    re.I,
)
_VOLATILE_FUNCS = {"random", "gen_random_uuid", "uuid_generate_v4", "clock_timestamp", "nextval"}


def _volatile_db_default(fld: Any) -> bool:
    value = getattr(fld, "db_default", models.NOT_PROVIDED)
    if value is models.NOT_PROVIDED or isinstance(value, models.Value):
        return False
    text = " ".join(str(x) for x in (getattr(value, "function", ""), value, type(value).__name__))
    if VOLATILE.search(text + "("):
        return True
    return type(value).__name__.lower() in {"random", "genrandomuuid", "uuid4"} or any(
        f in text.lower() for f in _VOLATILE_FUNCS
    )


def _has_db_default(fld: Any) -> bool:
    return getattr(fld, "db_default", models.NOT_PROVIDED) is not models.NOT_PROVIDED


_DIRECT_MODEL_IMPORT = re.compile(
    r"^\s*(?:from\s+([\w.]+?)\.models\s+import\s|import\s+([\w.]+?)\.models\b)", re.M
)


def _imports_models_directly(code: Any) -> str | None:
    """The app whose models a RunPython function's module imports directly, if any."""
    module = sys.modules.get(getattr(code, "__module__", ""))
    try:
        source = inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        source = ""
    with contextlib.suppress(OSError, TypeError):  # a builtin or a lambda in a REPL
        source += "\n" + inspect.getsource(code)
    app_modules = {cfg.name for cfg in global_apps.get_app_configs()}
    app_labels = {cfg.label for cfg in global_apps.get_app_configs()}
    for match in _DIRECT_MODEL_IMPORT.finditer(source):
        name = match[1] or match[2]
        if name.startswith("django.db"):
            continue
        if name in app_modules or name.rsplit(".", 1)[-1] in app_labels:
            return name
    return None


def _still_in_code(app_label: str, model_name: str, field_name: str | None = None) -> bool:
    """The code of this deploy still maps the model (or the field)."""
    try:
        model = global_apps.get_model(app_label, model_name)
    except LookupError:
        return False
    if field_name is None:
        return True
    try:
        model._meta.get_field(field_name)
    except Exception:
        return False
    return True


SCHEMA_OPS = (
    ops.CreateModel,
    ops.DeleteModel,
    ops.AddField,
    ops.RemoveField,
    ops.AlterField,
    ops.RenameField,
    ops.RenameModel,
    ops.AlterModelTable,
    ops.AddIndex,
    ops.RemoveIndex,
    ops.AddConstraint,
    ops.RemoveConstraint,
    ops.AlterUniqueTogether,
    ops.AlterIndexTogether,
)
ADDITIVE = (ops.CreateModel, ops.AddField, ops.AddIndex, ops.AddConstraint)
DESTRUCTIVE = (ops.RemoveField, ops.DeleteModel)
# Operations judged on the operation; anything else is judged on its SQL.
KNOWN_OPS = (
    *SCHEMA_OPS,
    ops.RunPython,
    ops.AlterModelOptions,
    ops.AlterModelManagers,
    ops.AlterOrderWithRespectTo,
    ops.RenameIndex,
    *CONCURRENT_OPS,
)
DML = re.compile(r"^\s*(UPDATE|INSERT|DELETE|MERGE|COPY)\b", re.I | re.M)


# --- operation-level analysis --------------------------------------------------------------


class _MigrationLinter:
    def __init__(self, migration: Migration, connection: Any, result: LintResult) -> None:
        self.migration = migration
        self.app_label = str(migration.app_label)
        self.key = f"{migration.app_label}.{migration.name}"
        self.connection = connection
        self.result = result
        self.hits: list[Hit] = []
        self.has_data_step = False
        self.schema_tables: set[str] = set()
        self.additive_tables: set[str] = set()
        self.destructive_tables: set[str] = set()

    def existing(self, table: str | None) -> bool:
        return table is not None and table not in self.result.created_tables

    def hit(self, rule_id: str, table: str | None, column: str | None = None, **kw: Any) -> None:
        if self.existing(table) or table is None:
            self.hits.append(Hit(RULES[rule_id], self.key, table, column, **kw))

    def touch(self, table: str, kind: str, *columns: str) -> None:
        if self.existing(table):
            self.result.touches.append(Touch(table, self.key, kind, tuple(columns)))

    def operation(self, op: Operation, state: ProjectState) -> None:
        app = self.app_label
        if isinstance(op, ops.CreateModel):
            created = str(op.options.get("db_table") or f"{app}_{op.name_lower}")
            self.result.created_tables.add(created)
            self.additive_tables.add(created)
            return
        if isinstance(op, ops.SeparateDatabaseAndState):
            scratch = state.clone()
            for inner in op.database_operations:
                self.operation(inner, scratch)
                inner.state_forwards(app, scratch)
            return
        model_name = getattr(op, "model_name", None) or getattr(op, "name", None)
        table: str | None = None
        if isinstance(model_name, str):
            table = _table(state, app, model_name)
        if isinstance(op, SCHEMA_OPS) and table:
            self.schema_tables.add(table)
            if isinstance(op, ADDITIVE):
                self.additive_tables.add(table)
            if isinstance(op, DESTRUCTIVE):
                self.destructive_tables.add(table)
        if isinstance(op, CONCURRENT_OPS):
            if self.migration.atomic:
                self.hits.append(
                    Hit(
                        RULES["concurrently_in_atomic"],
                        self.key,
                        table,
                        detail=f"{op.describe()} in an atomic migration.",
                    )
                )
            return
        if isinstance(op, ops.AddIndex) and table:
            rule = "add_unique" if getattr(op.index, "unique", False) else "add_index"
            self.hit(rule, table, detail=f"{op.describe()}.")
            self.touch(table, "alter")
        elif isinstance(op, ops.RemoveIndex) and table:
            self.hit("remove_index", table, detail=f"{op.describe()}.")
            self.touch(table, "alter")
        elif isinstance(op, ops.AddField) and table:
            self._add_field(op, table)
        elif isinstance(op, ops.AlterField) and table:
            self._alter_field(op, state, table)
        elif isinstance(op, ops.RenameField) and table:
            old = _field(state, app, op.model_name, op.old_name)
            if old is not None and not getattr(old, "db_column", None):
                self.hit("rename_column", table, _column(old, op.old_name), detail=op.describe())
                self.touch(table, "alter")
        elif isinstance(op, ops.RenameModel):
            old_table = _table(state, app, op.old_name)
            model_state = state.models.get((app, op.old_name_lower))
            if model_state is not None and not model_state.options.get("db_table"):
                self.hit("rename_table", old_table, detail=op.describe())
                self.touch(old_table, "alter")
        elif isinstance(op, ops.AlterModelTable) and table:
            if op.table and op.table != table:
                self.hit("rename_table", table, detail=f"{table} -> {op.table}")
                self.touch(table, "alter")
        elif isinstance(op, ops.RemoveField) and table:
            old = _field(state, app, op.model_name, op.name)
            if old is not None and old.many_to_many:
                return
            column = _column(old, op.name) if old is not None else op.name
            in_code = _still_in_code(app, op.model_name, op.name)
            self.hit(
                "drop_column",
                table,
                column,
                detail=op.describe()
                + (". The code in this deploy still maps this column." if in_code else "."),
            )
            self.touch(table, "drop", column)
        elif isinstance(op, ops.DeleteModel) and table:
            in_code = _still_in_code(app, op.name)
            self.hit(
                "drop_table",
                table,
                detail=op.describe()
                + (". The code in this deploy still maps this table." if in_code else "."),
            )
            self.touch(table, "drop")
        elif isinstance(op, ops.AddConstraint) and table:
            constraint = op.constraint
            if isinstance(constraint, models.UniqueConstraint):
                fields = tuple(constraint.fields)
                self.hit("add_unique", table, ",".join(fields) or None, detail=op.describe())
                self.touch(table, "add_unique", *fields)
            elif isinstance(constraint, models.CheckConstraint):
                self.hit("fk_or_check_validated", table, detail=op.describe())
                self.touch(table, "alter")
        elif isinstance(op, ops.AlterUniqueTogether) and table:
            model_state = state.models.get((app, op.name_lower))
            before = (
                {tuple(x) for x in (model_state.options.get("unique_together") or ())}
                if model_state
                else set()
            )
            for together in {tuple(x) for x in (op.option_value or ())} - before:
                columns = [
                    _column(_field(state, app, op.name, f), f)
                    for f in together
                    if _field(state, app, op.name, f) is not None
                ]
                self.hit("add_unique", table, ",".join(columns), detail=op.describe())
                self.touch(table, "add_unique", *columns)
        elif isinstance(op, ops.AlterIndexTogether) and table:
            self.hit("add_index", table, detail=op.describe())
        elif isinstance(op, ops.RunPython):
            self.has_data_step = True
            if op.reverse_code is None:
                self.hits.append(Hit(RULES["runpython_no_reverse"], self.key, detail=op.describe()))
            imported = _imports_models_directly(op.code)
            if imported:
                self.hits.append(
                    Hit(
                        RULES["runpython_direct_import"],
                        self.key,
                        detail=f"The module of {getattr(op.code, '__name__', 'the function')} "
                        f"imports {imported}.models.",
                    )
                )
        elif isinstance(op, ops.RunSQL):
            if op.reverse_sql is None:
                self.hits.append(Hit(RULES["runsql_no_reverse"], self.key, detail=op.describe()))
            if DML.search(_sql_text(op.sql)):
                self.has_data_step = True

    def _add_field(self, op: ops.AddField, table: str) -> None:
        fld = op.field
        if fld.many_to_many:
            return
        column = _column(fld, op.name)
        if not fld.null and not _has_db_default(fld) and not fld.primary_key:
            self.hit(
                "not_null_without_db_default",
                table,
                column,
                detail=f"{op.describe()}: NOT NULL, default only in Python.",
            )
        if _volatile_db_default(fld) or isinstance(fld, models.AutoField):
            self.hit("volatile_default", table, column, detail=f"{op.describe()}.")
        if fld.unique and not fld.primary_key:
            self.hit("add_unique", table, column, detail=f"{op.describe()} (unique=True).")
        elif getattr(fld, "db_index", False) or (
            fld.is_relation and getattr(fld, "db_index", True)
        ):
            self.hit("add_index", table, column, detail=f"{op.describe()} (index on {column}).")
        if fld.is_relation and getattr(fld, "db_constraint", False):
            self.hit(
                "fk_or_check_validated", table, column, detail=f"{op.describe()} (FOREIGN KEY)."
            )
        elif self._db_check(fld, column):
            self.hit(
                "fk_or_check_validated",
                table,
                column,
                detail=f"{op.describe()}: the column comes with CHECK "
                f"({self._db_check(fld, column)}), checked against every row.",
            )
        self.touch(table, "alter", column)

    def _db_check(self, fld: Any, column: str) -> str | None:
        """The inline CHECK a field type adds (PositiveIntegerField: "col" >= 0), if any."""
        try:
            bound = fld.clone()
            bound.set_attributes_from_name(column)
            check = bound.db_check(self.connection)
        except Exception:  # an unusual third-party field: no inline check known
            return None
        return str(check) if check else None

    def _alter_field(self, op: ops.AlterField, state: ProjectState, table: str) -> None:
        old = _field(state, self.app_label, op.model_name, op.name)
        new = op.field
        if old is None:
            return
        column = _column(new, op.name)
        old_column = _column(old, op.name)
        if old_column != column:
            self.hit("rename_column", table, old_column, detail=f"{old_column} -> {column}")
        if old.null and not new.null:
            self.hit("set_not_null", table, column, detail=f"{op.describe()}: null=True -> False.")
            self.touch(table, "set_not_null", column)
        elif not old.null and new.null:
            self.hit("drop_not_null", table, column, detail=f"{op.describe()}: null=False -> True.")
        old_type, new_type = _db_type(old, self.connection), _db_type(new, self.connection)
        if old_type and new_type and not safe_cast(old_type, new_type):
            self.hit(
                "unsafe_type_change", table, column, detail=f"{column}: {old_type} -> {new_type}."
            )
        if new.unique and not old.unique and not new.primary_key:
            self.hit("add_unique", table, column, detail=f"{op.describe()}: unique=True.")
            self.touch(table, "add_unique", column)
        elif (
            getattr(new, "db_index", False)
            and not getattr(old, "db_index", False)
            and not new.unique
        ):
            self.hit("add_index", table, column, detail=f"{op.describe()}: db_index=True.")
        elif (
            getattr(old, "db_index", False)
            and not getattr(new, "db_index", False)
            and not old.unique
        ):
            self.hit("remove_index", table, column, detail=f"{op.describe()}: db_index=False.")
        if new.is_relation and not old.is_relation and getattr(new, "db_constraint", False):
            self.hit(
                "fk_or_check_validated", table, column, detail=f"{op.describe()} (FOREIGN KEY)."
            )
        self.touch(table, "alter", column)

    def finish(self, unknown_sql: list[str]) -> None:
        self._sql(unknown_sql)
        existing_schema = {t for t in self.schema_tables if self.existing(t)}
        if self.has_data_step and existing_schema:
            self.hits.append(
                Hit(
                    RULES["backfill_with_schema"],
                    self.key,
                    ", ".join(sorted(existing_schema)),
                    detail="Data steps (RunPython/DML) next to schema changes on "
                    + ", ".join(sorted(existing_schema))
                    + ".",
                )
            )
        destructive = {t for t in self.destructive_tables if self.existing(t)}
        if destructive and self.additive_tables:
            self.hits.append(
                Hit(
                    RULES["mixed_additive_destructive"],
                    self.key,
                    ", ".join(sorted(destructive)),
                    detail="Adds to "
                    + ", ".join(sorted(self.additive_tables))
                    + " and drops from "
                    + ", ".join(sorted(destructive))
                    + ".",
                )
            )

    # --- SQL-level -------------------------------------------------------------------------

    def _sql(self, statements: list[str]) -> None:
        seen = {(h.rule.id, h.table) for h in self.hits}
        for statement in statements:
            for rule_id, table, column in sql_hits(statement, bool(self.migration.atomic)):
                if rule_id == "create_table":
                    self.result.created_tables.add(table or "")
                    continue
                if rule_id in ("drop_column", "drop_table") and not self._still_mapped(
                    table, column
                ):
                    continue
                if rule_id == "data":
                    self.has_data_step = True
                    continue
                if rule_id == "schema" and table:
                    self.schema_tables.add(table)
                    continue
                if (rule_id, table) in seen:
                    continue
                if (
                    rule_id != "concurrently_in_atomic"
                    and table is not None
                    and not self.existing(table)
                ):
                    continue
                seen.add((rule_id, table))
                self.hits.append(
                    Hit(
                        RULES[rule_id],
                        self.key,
                        table,
                        column,
                        detail="SQL: " + " ".join(statement.split())[:300],
                        source="sql",
                    )
                )

    def _still_mapped(self, table: str | None, column: str | None) -> bool:
        """A DROP in raw SQL matters only while some model state still maps the table/column."""
        return table is not None and (table, column) in self.result_state_columns

    result_state_columns: set[tuple[str, str | None]] = set()


_IDENT = r'"?([\w$]+)"?(?:\."?([\w$]+)"?)?'


def _name(match: re.Match[str], first: int) -> str:
    return str(match[first + 1] or match[first])


SQL_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "create_table",
        re.compile(r"^\s*CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF NOT EXISTS\s+)?" + _IDENT, re.I),
    ),
    (
        "add_index",
        re.compile(
            r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)(?:IF NOT EXISTS\s+)?"
            r"[\"\w$]+\s+ON\s+(?:ONLY\s+)?" + _IDENT,
            re.I,
        ),
    ),
    ("remove_index", re.compile(r"^\s*DROP\s+INDEX\s+(?!CONCURRENTLY)", re.I)),
    ("concurrently_in_atomic", re.compile(r"\bINDEX\s+CONCURRENTLY\b", re.I)),
    (
        "alter_table",
        re.compile(r"^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF EXISTS\s+)?" + _IDENT, re.I),
    ),
    ("drop_table", re.compile(r"^\s*DROP\s+TABLE\s+(?:IF EXISTS\s+)?" + _IDENT, re.I)),
]
_ADD_COLUMN = re.compile(
    r"ADD\s+(?:COLUMN\s+)?(?:IF NOT EXISTS\s+)?\"?([\w$]+)\"?\s+([^,;]*)", re.I
)
_COLUMN_ACTION = re.compile(
    r"ALTER\s+(?:COLUMN\s+)?\"?([\w$]+)\"?\s+(SET NOT NULL|TYPE|SET DATA TYPE)", re.I
)


def _sql_text(sql: Any) -> str:
    if isinstance(sql, list | tuple):
        return "\n".join(s if isinstance(s, str) else str(s[0]) for s in sql)
    return str(sql)


def sql_hits(statement: str, atomic: bool) -> list[tuple[str, str | None, str | None]]:
    """``(rule or marker, table, column)`` for one PostgreSQL statement."""
    out: list[tuple[str, str | None, str | None]] = []
    text = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
    if not text.strip():
        return out
    if DML.search(text):
        out.append(("data", None, None))
    if atomic and SQL_PATTERNS[3][1].search(text):
        out.append(("concurrently_in_atomic", None, None))
    for marker, pattern in SQL_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        if marker == "create_table":
            out.append(("create_table", _name(match, 1), None))
        elif marker == "add_index":
            out.append(("add_unique" if match[1] else "add_index", _name(match, 2), None))
        elif marker == "remove_index":
            out.append(("remove_index", None, None))
        elif marker == "drop_table":
            out.append(("drop_table", _name(match, 1), None))
        elif marker == "alter_table":
            table = _name(match, 1)
            out.append(("schema", table, None))
            out.extend(_alter_table_hits(text, table))
    return out


def _alter_table_hits(text: str, table: str) -> list[tuple[str, str | None, str | None]]:
    out: list[tuple[str, str | None, str | None]] = []
    upper = text.upper()
    for match in _ADD_COLUMN.finditer(text):
        column, rest = match[1], match[2]
        if column.upper() in ("CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
            continue
        if "NOT NULL" in rest.upper() and "DEFAULT" not in rest.upper():
            out.append(("not_null_without_db_default", table, column))
        if "DEFAULT" in rest.upper() and VOLATILE.search(rest):
            out.append(("volatile_default", table, column))
        if re.search(r"\b(BIG|SMALL)?SERIAL\b", rest, re.I):
            out.append(("volatile_default", table, column))
    for match in _COLUMN_ACTION.finditer(text):
        if match[2].upper() == "SET NOT NULL":
            out.append(("set_not_null", table, match[1]))
        else:
            out.append(("unsafe_type_change", table, match[1]))
    if (
        re.search(r"ADD\s+CONSTRAINT\s+\S+\s+(FOREIGN KEY|CHECK)\b", text, re.I)
        and "NOT VALID" not in upper
    ):
        out.append(("fk_or_check_validated", table, None))
    if (
        re.search(r"ADD\s+(CONSTRAINT\s+\S+\s+)?UNIQUE\b", text, re.I)
        and "USING INDEX" not in upper
    ):
        out.append(("add_unique", table, None))
    rename_col = re.search(r"RENAME\s+(?:COLUMN\s+)?\"?([\w$]+)\"?\s+TO\b", text, re.I)
    if rename_col and rename_col[1].upper() != "TO":
        out.append(("rename_column", table, rename_col[1]))
    elif re.search(r"\bRENAME\s+TO\b", text, re.I):
        out.append(("rename_table", table, None))
    drop = re.search(r"DROP\s+(?:COLUMN\s+)?(?:IF EXISTS\s+)?\"?([\w$]+)\"?", text, re.I)
    if drop and drop[1].upper() not in (
        "CONSTRAINT",
        "NOT",
        "DEFAULT",
        "INDEX",
        "IDENTITY",
        "EXPRESSION",
    ):
        out.append(("drop_column", table, drop[1]))
    return out


# --- the walk ------------------------------------------------------------------------------


def _split_by_operation(collected: list[str], migration: Migration) -> list[list[str]]:
    """``collect_sql`` output cut into one list per operation (Django writes a header each)."""
    parts: list[list[str]] = [[] for _ in migration.operations]
    index = -1
    i = 0
    while i < len(collected):
        line = collected[i]
        if (
            line == "--"
            and i + 2 < len(collected)
            and collected[i + 2] == "--"
            and index + 1 < len(parts)
            and collected[i + 1] == f"-- {migration.operations[index + 1].describe()}"
        ):
            index += 1
            i += 3
            continue
        if index >= 0:
            parts[index].append(line)
        i += 1
    return parts


def _state_columns(state: ProjectState) -> set[tuple[str, str | None]]:
    out: set[tuple[str, str | None]] = set()
    for (app_label, model_name), model_state in state.models.items():
        table = _table(state, app_label, model_name)
        out.add((table, None))
        for name, fld in model_state.fields.items():
            if not fld.many_to_many:
                out.add((table, _column(fld, name)))
    return out


def lint(
    alias: str,
    steps: list[Step],
    ex: MigrationExecutor,
    vendor: str,
    allow: set[str],
    state: ProjectState | None = None,
) -> LintResult:
    """Lint the forward steps of a plan (a backwards plan is not linted: its risk is data loss).

    ``state`` is the project state before the plan (default: every applied migration).
    """
    result = LintResult()
    connection = connections[alias]
    result.skipped_rules = sorted(r.id for r in RULES.values() if vendor not in r.vendors)
    forward = [s for s in steps if not s.backwards]
    if not forward:
        return result
    op_state = state or applied_state(ex)
    sql_state = op_state.clone()
    for step in forward:
        migration = step.migration
        linter = _MigrationLinter(migration, connection, result)
        linter.result_state_columns = _state_columns(op_state)
        pre = sql_state.clone()  # rendered after the first step: cloning beats re-rendering
        for op in migration.operations:
            linter.operation(op, op_state)
            op.state_forwards(step.app_label, op_state)
        statements: list[list[str]] = [[] for _ in migration.operations]
        try:
            with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
                sql_state = migration.apply(sql_state, editor, collect_sql=True)
                ops_sql = list(editor.collected_sql)
            deferred = editor.collected_sql[len(ops_sql) :]
            statements = _split_by_operation(ops_sql, migration)
            result.sql[step.key] = [line for line in [*ops_sql, *deferred] if line != "--"]
        except Exception as exc:  # best effort, as sqlmigrate: introspection may need the table
            logger.info("no SQL for %s: %s", step.key, exc)
            result.sql[step.key] = [f"-- SQL not available: {exc}"]
            sql_state = op_state.clone()
        result.reverse_sql[step.key] = _reverse_sql(connection, migration, pre)
        unknown = [
            line
            for op, part in zip(migration.operations, statements, strict=True)
            if not isinstance(op, KNOWN_OPS)
            for line in part
        ]
        linter.finish(unknown if vendor == "postgresql" else [])
        allowed_here = set(getattr(migration, ALLOW_ATTRIBUTE, ()) or ())
        for hit in linter.hits:
            if vendor not in hit.rule.vendors:
                continue
            hit.blocking = hit.rule.blocking
            if hit.rule.id in allow:
                hit.allowed_by = "--allow-unsafe"
            elif hit.rule.id in allowed_here:
                hit.allowed_by = f"{step.key}.{ALLOW_ATTRIBUTE}"
            result.hits.append(hit)
    return result


def _reverse_sql(connection: Any, migration: Migration, pre: ProjectState) -> list[str] | str:
    from django.db.migrations.exceptions import IrreversibleError

    try:
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            migration.unapply(pre, editor, collect_sql=True)
        return [line for line in editor.collected_sql if line != "--"]
    except IrreversibleError as exc:
        return f"irreversible: {exc}"
    except Exception as exc:  # best effort, as sqlmigrate --backwards
        return f"-- SQL not available: {exc}"


LOCK_RULES = frozenset(
    {
        "add_index",
        "remove_index",
        "volatile_default",
        "set_not_null",
        "fk_or_check_validated",
        "add_unique",
        "unsafe_type_change",
        "backfill_with_schema",
    }
)


def escalate(result: LintResult, sizes: dict[str, dict[str, Any]]) -> None:
    """Lock rules escalate on big tables (~1M rows or 1 GB).

    A Migration's own ``railops_allow_unsafe`` was written without knowing the production table:
    on a big table it no longer covers a lock rule, only ``--allow-unsafe`` for this run does.
    """
    for hit in result.hits:
        size = sizes.get(hit.table or "")
        if not size:
            continue
        rows = float(size.get("rows_estimate") or 0)
        hit.rows_estimate = rows
        big = rows >= BIG_TABLE_ROWS or float(size.get("bytes") or 0) >= BIG_TABLE_BYTES
        if big and hit.rule.id in LOCK_RULES:
            hit.blocking = True
            if hit.allowed_by and hit.allowed_by != "--allow-unsafe":
                hit.detail += (
                    f" The table is big: {hit.allowed_by} does not cover it; pass "
                    f"--allow-unsafe {hit.rule.id} to accept it for this run."
                )
                hit.allowed_by = None
