from django.db import migrations, models


def _model(name: str, table: str) -> migrations.CreateModel:
    return migrations.CreateModel(
        name=name,
        fields=[("id", models.BigAutoField(primary_key=True, serialize=False))],
        options={"db_table": table},
    )


class Migration(migrations.Migration):
    """Legacy: a table adopted into the state only (it exists already); Fresh: created here."""

    initial = True
    dependencies = []

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[_model("Legacy", "sepcase_legacy")]),
        migrations.SeparateDatabaseAndState(
            database_operations=[_model("Fresh", "sepcase_fresh")],
            state_operations=[_model("Fresh", "sepcase_fresh")],
        ),
        migrations.AddField("legacy", "level", models.IntegerField(default=0)),
        migrations.AddField("fresh", "level", models.IntegerField(default=0)),
    ]
