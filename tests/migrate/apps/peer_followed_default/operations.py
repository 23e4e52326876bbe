"""A third-party style operation that gives an existing column a database default."""

from __future__ import annotations

from typing import Any

from django.db import migrations


class SetColumnDefault(migrations.operations.base.Operation):
    reduces_to_sql = True
    reversible = True

    def __init__(self, model_name: str, name: str, value: int) -> None:
        self.model_name, self.name, self.value = model_name, name, value

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _sql(self, app_label: str, schema_editor: Any, state: Any, default: str) -> None:
        model = state.apps.get_model(app_label, self.model_name)
        column = model._meta.get_field(self.name).column
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {quote(model._meta.db_table)} ALTER COLUMN {quote(column)} {default}"
        )

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._sql(app_label, schema_editor, to_state, f"SET DEFAULT {int(self.value)}")

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._sql(app_label, schema_editor, to_state, "DROP DEFAULT")

    def describe(self) -> str:
        return f"Set the database default of {self.model_name}.{self.name}"
