"""Migration operations from outside Django, as a trigger library writes them (for the native
engine's coverage, which reads the SQL they run as ``sqlmigrate`` collects it)."""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation


class CountNames(Operation):
    """Creates a function and a BEFORE INSERT trigger on the model's table that counts the
    rows' names in ``slots``; its arguments name neither (like pgtrigger's ``AddTrigger``)."""

    reversible = True

    def __init__(self, model_name: str, tag: str) -> None:
        self.model_name, self.tag = model_name, tag

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        table = to_state.apps.get_model(app_label, self.model_name)._meta.db_table
        schema_editor.execute(
            f"CREATE FUNCTION {self.tag}_fn() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.slots := length(NEW.name); RETURN NEW; END $$"
        )
        schema_editor.execute(
            f'CREATE TRIGGER {self.tag}_trg BEFORE INSERT ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION {self.tag}_fn()"
        )

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        table = from_state.apps.get_model(app_label, self.model_name)._meta.db_table
        schema_editor.execute(f'DROP TRIGGER {self.tag}_trg ON "{table}"')
        schema_editor.execute(f"DROP FUNCTION {self.tag}_fn()")

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (type(self).__name__, [], {"model_name": self.model_name, "tag": object()})

    def describe(self) -> str:
        return f"count names on {self.model_name}"


class NeedsTheDatabase(CountNames):
    """The same, but it reads the database first: without one (``collect_sql``) it fails, and
    coverage falls back to its arguments, which here name what it creates."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.collect_sql:
            raise RuntimeError("needs a real database")
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        names = [f"{self.tag}_fn", f"{self.tag}_trg"]
        return (type(self).__name__, [], {"model_name": self.model_name, "creates": names})


class Careless(NeedsTheDatabase):
    """The same, but without a database (``collect_sql``) it writes to the one its schema
    editor's connection reaches: coverage must not let a backup change the database."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.collect_sql:
            with schema_editor.connection.cursor() as cursor:
                cursor.execute("CREATE SEQUENCE careless_side_effect")
        CountNames.database_forwards(self, app_label, schema_editor, from_state, to_state)
