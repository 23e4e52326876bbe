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
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as global_apps
from django.db import connections, models
from django.db.migrations import operations as ops
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from ..db import lints_sql
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
    judged: str | None = None  # why live facts changed the verdict

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
        if self.judged:
            detail += f" {self.judged[0].upper()}{self.judged[1:]}."
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
    after_fix: str | None = None  # a data step that runs before it in the same migration


@dataclass
class LintResult:
    hits: list[Hit] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    skipped_rules: list[str] = field(default_factory=list)
    sql: dict[str, list[str]] = field(default_factory=dict)
    reverse_sql: dict[str, list[str] | str] = field(default_factory=dict)
    created_tables: set[str] = field(default_factory=set)
    created_models: set[tuple[str, str]] = field(default_factory=set)
    # A table that existed before the plan, renamed in it: its name now -> its name in the
    # database before the plan (where its live facts are read).
    origins: dict[str, str] = field(default_factory=dict)
    rendered_steps: int = 0

    def live_name(self, table: str) -> str:
        return self.origins.get(table, table)

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
    """A database default that fills a NOT NULL column: ``db_default=None`` is DEFAULT NULL."""
    value = getattr(fld, "db_default", models.NOT_PROVIDED)
    if value is models.NOT_PROVIDED or value is None:
        return False
    return not (isinstance(value, models.Value) and value.value is None)


_DIRECT_MODEL_IMPORT = re.compile(
    r"^\s*(?:from\s+([\w.]+?)\.models\s+import\s|import\s+([\w.]+?)\.models\b)", re.M
)


def _code_objects(code: Any) -> list[Any]:
    """A function's code object and every function nested in it."""
    out: list[Any] = []
    todo = [code]
    while todo and len(out) < 200:
        current = todo.pop()
        out.append(current)
        todo.extend(c for c in current.co_consts if inspect.iscode(c))
    return out


def _imports_models_directly(code: Any) -> str | None:
    """The app models a RunPython function itself uses (not its module's imports), if any.

    Looks at the names the function's code reads: a global that is a model class or an app's
    ``models`` module, and an ``import app.models`` inside the function.
    """
    func_code = getattr(code, "__code__", None)
    if func_code is None:
        return None
    app_modules = {cfg.name for cfg in global_apps.get_app_configs()}
    app_labels = {cfg.label for cfg in global_apps.get_app_configs()}

    def app_of(module_name: str) -> str | None:
        name = module_name.removesuffix(".models")
        if name == module_name or name.startswith("django.db"):
            return None
        return name if name in app_modules or name.rsplit(".", 1)[-1] in app_labels else None

    namespace = getattr(code, "__globals__", {}) or {}
    for code_object in _code_objects(func_code):
        for name in code_object.co_names:
            if "." in name and app_of(name):
                return app_of(name)
            value = namespace.get(name)
            if (
                isinstance(value, type)
                and issubclass(value, models.Model)
                and value.__module__ != "__fake__"  # a historical model from apps.get_model
                and not value._meta.abstract
                and global_apps.is_installed(value._meta.app_config.name)
            ):
                return str(value._meta.app_config.name)
            if inspect.ismodule(value):
                module_name = value.__name__.split(".models.", 1)[0]
                found = app_of(
                    module_name if module_name == value.__name__ else module_name + ".models"
                )
                if found:
                    return found
    with contextlib.suppress(OSError, TypeError):  # a builtin or a lambda in a REPL
        for match in _DIRECT_MODEL_IMPORT.finditer(inspect.getsource(code)):
            found = app_of(f"{match[1] or match[2]}.models")
            if found:
                return found
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


def _db_backed(options: dict[str, Any], app_label: str, model_name: str) -> bool:
    """Whether operations on the model reach the database (not proxy, unmanaged or swapped)."""
    if options.get("proxy") or options.get("managed", True) is False:
        return False
    swappable = options.get("swappable")
    if swappable:
        from django.conf import settings

        chosen = str(getattr(settings, swappable, "") or "")
        if chosen and chosen.lower() != f"{app_label}.{model_name}".lower():
            return False
    return True


def _follow(
    result: LintResult,
    app_label: str,
    op: Operation,
    state: ProjectState,
    before: str | None = None,
) -> None:
    """Follow a table through ``op`` (already applied to ``state``; ``before``: its table name
    before ``op``). A table created in this plan stays new whatever it is called now
    (RenameModel moves the identity, AlterModelTable gives it a new name); a table that existed
    before keeps pointing at its name in the database, for the live facts.
    """
    if isinstance(op, ops.RenameModel):
        old_key, new_key, new_name = (
            (app_label, op.old_name_lower),
            (app_label, op.new_name_lower),
            op.new_name,
        )
    elif isinstance(op, ops.AlterModelTable):
        old_key = new_key = (app_label, op.name_lower)
        new_name = op.name
    else:
        if isinstance(op, ops.DeleteModel):
            result.created_models.discard((app_label, op.name_lower))
        return
    after = _table(state, app_label, new_name)
    if old_key in result.created_models:
        result.created_models.add(new_key)
        result.created_tables.add(after)
    elif before and after != before:
        result.origins[after] = result.origins.get(before, before)


def _table_before(state: ProjectState, app_label: str, op: Operation) -> str | None:
    if isinstance(op, ops.RenameModel):
        return _table(state, app_label, op.old_name)
    if isinstance(op, ops.AlterModelTable):
        return _table(state, app_label, op.name)
    return None


def _statements(connection: Any, sql: Any) -> list[str]:
    """RunSQL's statements as ``migrate`` would send them, without rendering any model."""
    if sql == ops.RunSQL.noop:
        return []
    if isinstance(sql, list | tuple):
        return [s if isinstance(s, str) else str(s[0]) for s in sql]
    try:
        return [str(s) for s in connection.ops.prepare_sql_script(str(sql))]
    except Exception:  # sqlparse missing or confused: judge it whole
        return [str(sql)]


_DML_TABLE = re.compile(
    r"^\s*(?:UPDATE\s+(?:ONLY\s+)?|DELETE\s+FROM\s+(?:ONLY\s+)?|INSERT\s+INTO\s+)"
    r'"?([\w$]+)"?(?:\."?([\w$]+)"?)?',
    re.I | re.M,
)
_SET_DEFAULT = re.compile(
    r'ALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF EXISTS\s+)?"?([\w$]+)"?(?:\."?([\w$]+)"?)?\s+'
    r'ALTER\s+(?:COLUMN\s+)?"?([\w$]+)"?\s+SET\s+DEFAULT\b',
    re.I,
)


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
    ops.RunSQL,  # judged on its own text: no model to render
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
        self.sql_statements: list[str] = []  # RunSQL text and unknown operations' SQL
        self.data_fixes: dict[str | None, str] = {}  # table (None: any) -> the data step
        self.defaults_set: set[tuple[str, str]] = set()

    def existing(self, table: str | None) -> bool:
        return table is not None and table not in self.result.created_tables

    def hit(self, rule_id: str, table: str | None, column: str | None = None, **kw: Any) -> None:
        if self.existing(table) or table is None:
            self.hits.append(Hit(RULES[rule_id], self.key, table, column, **kw))

    def touch(self, table: str, kind: str, *columns: str) -> None:
        if self.existing(table):
            fix = self.data_fixes.get(table) or self.data_fixes.get(None)
            live = self.result.live_name(table)
            self.result.touches.append(Touch(live, self.key, kind, tuple(columns), fix))

    def operation(self, op: Operation, state: ProjectState) -> None:
        app = self.app_label
        if isinstance(op, ops.CreateModel):
            if not _db_backed(op.options, app, op.name):
                return
            created = str(op.options.get("db_table") or f"{app}_{op.name_lower}")
            self.result.created_tables.add(created)
            self.result.created_models.add((app, op.name_lower))
            self.additive_tables.add(created)
            return
        if isinstance(op, ops.SeparateDatabaseAndState):
            for inner in op.state_operations:  # a model adopting a table this plan created
                if isinstance(inner, ops.CreateModel):
                    adopted = str(inner.options.get("db_table") or f"{app}_{inner.name_lower}")
                    if adopted in self.result.created_tables:
                        self.result.created_models.add((app, inner.name_lower))
            scratch = state.clone()
            for inner in op.database_operations:
                self.operation(inner, scratch)
                previous = _table_before(scratch, app, inner)
                inner.state_forwards(app, scratch)
                _follow(self.result, app, inner, scratch, previous)
            return
        model_name = getattr(op, "model_name", None) or getattr(op, "name", None)
        table: str | None = None
        if isinstance(model_name, str) and not isinstance(op, ops.RunPython | ops.RunSQL):
            model_state = state.models.get((app, model_name.lower()))
            if model_state is not None and not _db_backed(model_state.options, app, model_name):
                return  # proxy, unmanaged or swapped out: nothing runs in the database
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
            self.data_fixes.setdefault(
                None, f"{self.key}: RunPython {getattr(op.code, '__name__', 'function')}"
            )
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
            statements = _statements(self.connection, op.sql)
            for statement in statements:
                target = _DML_TABLE.search(statement)
                if target:
                    self.data_fixes.setdefault(
                        _name(target, 1), f"{self.key}: {' '.join(statement.split())[:160]}"
                    )
            self.sql_statements.extend(statements)
            if DML.search("\n".join(statements)):
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
        if _has_db_default(new) and not _has_db_default(old):
            self.defaults_set.add((table, column))
        if old_column != column:
            self.hit("rename_column", table, old_column, detail=f"{old_column} -> {column}")
        if old.null and not new.null:
            self.hit("set_not_null", table, column, detail=f"{op.describe()}: null=True -> False.")
            if new.has_default() or _has_db_default(new):
                # Django's four-way alteration: UPDATE ... SET col = default WHERE col IS NULL
                # runs before SET NOT NULL, in the same statement batch.
                self.data_fixes.setdefault(
                    table,
                    f"{self.key}: {op.describe()} fills NULL rows with the field's default "
                    "before SET NOT NULL",
                )
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

    def finish(self, unknown_sql: list[str], judge_sql: bool) -> None:
        if judge_sql:
            self._sql([*self.sql_statements, *unknown_sql])
        for statement in [*self.sql_statements, *unknown_sql]:
            for match in _SET_DEFAULT.finditer(statement):
                self.defaults_set.add((_name(match, 1), match[3]))
        # A NOT NULL column whose database default is set later in the same migration (a
        # custom AddDefaultValue-style operation, RunSQL, AlterField(db_default=...)) is safe.
        self.hits = [
            h
            for h in self.hits
            if not (
                h.rule.id == "not_null_without_db_default"
                and (h.table, h.column) in self.defaults_set
            )
        ]
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


# Plans up to this many migrations get their SQL (forwards and back) rendered for every step;
# longer ones (a first deploy, a long upgrade) only where a rule needs it: a migration with an
# operation only its SQL explains. Rendering costs what ``migrate`` itself costs.
SQL_ALL_STEPS = 12


def _known(op: Operation) -> bool:
    if isinstance(op, ops.SeparateDatabaseAndState):
        return all(_known(inner) for inner in op.database_operations)
    return isinstance(op, KNOWN_OPS)


def _state_columns(state: ProjectState) -> set[tuple[str, str | None]]:
    out: set[tuple[str, str | None]] = set()
    for (app_label, model_name), model_state in state.models.items():
        table = _table(state, app_label, model_name)
        out.add((table, None))
        for name, fld in model_state.fields.items():
            if not fld.many_to_many:
                out.add((table, _column(fld, name)))
    return out


@dataclass
class _StepSQL:
    forwards: list[list[str]]  # per operation
    deferred: list[str]
    backwards: list[str] | str


def _render_sql(connection: Any, migration: Migration, state: ProjectState) -> _StepSQL:
    """Forward and reverse SQL of one migration in a single walk of ``state`` (rendered, and
    moved to the state after the migration), as the executor applies it: one clone and one
    ``state_forwards`` per operation, and the reverse SQL from the same states."""
    app = str(migration.app_label)
    forwards: list[list[str]] = []
    states: list[ProjectState] = []
    _ = state.apps  # render once (the executor does too); every clone below carries it
    with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
        for op in migration.operations:
            before = state.clone()
            states.append(before)
            op.state_forwards(app, state)
            mark = len(editor.collected_sql)
            if not op.reduces_to_sql:
                editor.collected_sql.append(
                    f"-- MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS SQL: "
                    f"{op.describe()}"
                )
            else:
                try:
                    op.database_forwards(app, editor, before, state)
                except Exception as exc:  # best effort, as sqlmigrate: may need the table
                    logger.info("no SQL for %s (%s): %s", migration, op.describe(), exc)
                    editor.collected_sql.append(f"-- SQL not available: {exc}")
            forwards.append(list(editor.collected_sql[mark:]))
        ops_lines = len(editor.collected_sql)
    deferred = list(editor.collected_sql[ops_lines:])
    backwards: list[str] | str
    irreversible = [op for op in migration.operations if not op.reversible]
    if irreversible:
        backwards = f"irreversible: Operation {irreversible[0]} in {migration} is not reversible"
    else:
        try:
            after = [*states[1:], state]
            with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
                for op, before, later in reversed(
                    list(zip(migration.operations, states, after, strict=True))
                ):
                    if op.reduces_to_sql:
                        op.database_backwards(app, editor, later, before)
            backwards = list(editor.collected_sql)
        except Exception as exc:  # best effort, as sqlmigrate --backwards
            backwards = f"-- SQL not available: {exc}"
    return _StepSQL(forwards, deferred, backwards)


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

    The rules read model states only (never rendered). SQL is rendered, in plan order and once
    per migration (forwards and reverse from the same states), for every step of a short plan
    and, in a long one, for migrations with operations only their SQL explains; the others
    name the ``sqlmigrate`` command that shows it.
    """
    result = LintResult()
    connection = connections[alias]
    result.skipped_rules = sorted(r.id for r in RULES.values() if vendor not in r.vendors)
    forward = [s for s in steps if not s.backwards]
    if not forward:
        return result
    op_state = state or applied_state(ex)
    rendered: ProjectState | None = None  # in step with op_state while consecutive steps render
    render_all = len(forward) <= SQL_ALL_STEPS
    for step in forward:
        migration = step.migration
        unknown = [op for op in migration.operations if not _known(op)]
        needs_sql = render_all or bool(unknown)
        if needs_sql and rendered is None:
            rendered = op_state.clone()
        if not needs_sql:
            rendered = None
        linter = _MigrationLinter(migration, connection, result)
        if unknown or any(isinstance(op, ops.RunSQL) for op in migration.operations):
            linter.result_state_columns = _state_columns(op_state)
        for op in migration.operations:
            linter.operation(op, op_state)
            previous = _table_before(op_state, step.app_label, op)
            op.state_forwards(step.app_label, op_state)
            _follow(result, step.app_label, op, op_state, previous)
        unknown_sql: list[str] = []
        if rendered is not None:
            result.rendered_steps += 1
            try:
                rendered_sql = _render_sql(connection, migration, rendered)
            except Exception as exc:  # best effort, as sqlmigrate (SQLite inside a transaction)
                logger.info("no SQL for %s: %s", step.key, exc)
                unavailable = [f"-- SQL not available: {exc}"]
                rendered_sql = _StepSQL([[] for _ in migration.operations], unavailable, "")
                rendered_sql.backwards = unavailable
                rendered = None  # its state may be half-way: render afresh next time
            result.sql[step.key] = [
                line
                for part in [*rendered_sql.forwards, rendered_sql.deferred]
                for line in part
                if line != "--"
            ]
            result.reverse_sql[step.key] = rendered_sql.backwards
            unknown_sql = [
                line
                for op, part in zip(migration.operations, rendered_sql.forwards, strict=True)
                if not _known(op)
                for line in part
            ]
        else:
            note = (
                f"-- not rendered in a plan of {len(forward)} migrations (more than "
                f"{SQL_ALL_STEPS}): python manage.py sqlmigrate {step.app_label} {step.name}"
            )
            result.sql[step.key] = [*linter.sql_statements, note]
            irreversible = [o.describe() for o in migration.operations if not o.reversible]
            result.reverse_sql[step.key] = (
                "irreversible: " + "; ".join(irreversible)
                if irreversible
                else [note.replace("sqlmigrate", "sqlmigrate --backwards")]
            )
        linter.finish(unknown_sql, lints_sql(vendor))
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
# About running code, not size: they hold for every table that existed before the plan.
COMPAT_RULES = frozenset(
    {"drop_column", "drop_table", "rename_column", "rename_table", "not_null_without_db_default"}
)
# Old replicas' INSERTs fail for the length of the deploy: a warning on a small table, the
# compatibility severity above MIGRATION_LOCK_RISK_ROWS.
SIZED_COMPAT_RULES = frozenset({"not_null_without_db_default"})


def _limits() -> tuple[int, int, str]:
    from .. import conf

    return (
        int(conf.get("MIGRATION_LOCK_RISK_ROWS")),
        int(conf.get("MIGRATION_LOCK_RISK_BYTES")),
        str(conf.get("MIGRATION_COMPAT_SEVERITY")),
    )


def judge(
    result: LintResult,
    sizes: dict[str, dict[str, Any]],
    limits: tuple[int, int, str] | None = None,
) -> None:
    """Judge each finding with the live facts of its table (``sizes``: table -> rows/bytes).

    - lock rules: an empty table says nothing; below MIGRATION_LOCK_RISK_ROWS/BYTES a warning
      with the safe alternative; above it as the rule says; on a big table (~1M rows or 1 GB)
      a Migration's own ``railops_allow_unsafe`` no longer covers it, only ``--allow-unsafe``;
    - compatibility rules: MIGRATION_COMPAT_SEVERITY on every table that existed before the
      plan, whatever its size (NOT NULL without a database default: a warning below the size).
    A table with no live facts (not measured) is judged as the rule says.
    """
    rows_limit, bytes_limit, compat = limits or _limits()
    kept: list[Hit] = []
    for hit in result.hits:
        rule = hit.rule.id
        facts = [
            sizes.get(result.live_name(t.strip()))
            for t in (hit.table or "").split(",")
            if t.strip()
        ]
        measured = bool(facts) and all(f is not None for f in facts)
        small = False
        if measured:
            rows = max(float(f.get("rows_estimate") or 0) for f in facts if f)
            size = max(float(f.get("bytes") or 0) for f in facts if f)
            hit.rows_estimate = rows
            small = rows < rows_limit and size < bytes_limit
            if rule in LOCK_RULES:
                if rows == 0 and size < bytes_limit:
                    continue  # an empty table: the lock is over before anyone waits
                if small:
                    hit.blocking = False
                    hit.judged = (
                        f"below MIGRATION_LOCK_RISK_ROWS ({rows_limit:,}): the lock is short, "
                        "so this does not block; the fix is the safe way"
                    )
                elif rows >= BIG_TABLE_ROWS or size >= BIG_TABLE_BYTES:
                    hit.blocking = True
                    if hit.allowed_by and hit.allowed_by != "--allow-unsafe":
                        hit.detail += (
                            f" The table is big: {hit.allowed_by} does not cover it; pass "
                            f"--allow-unsafe {rule} to accept it for this run."
                        )
                        hit.allowed_by = None
        if rule in COMPAT_RULES:
            if rule in SIZED_COMPAT_RULES and measured and small:
                hit.blocking = False
                hit.judged = (
                    f"a small table (below MIGRATION_LOCK_RISK_ROWS, {rows_limit:,} rows): "
                    "a warning; the fix is the safe way"
                )
            else:
                hit.blocking = compat == "critical"
        kept.append(hit)
    result.hits = kept


def escalate(result: LintResult, sizes: dict[str, dict[str, Any]]) -> None:
    """Lock rules judged on the table's live size (see :func:`judge`)."""
    judge(result, sizes)
