import django
from django.db import migrations, models
from django.db.models.functions import Lower

# CheckConstraint's argument is `condition` since Django 5.1 (`check` before).
CONDITION = "condition" if django.VERSION >= (5, 1) else "check"


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            name="Shelf",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50, db_index=True)),
                ("code", models.CharField(max_length=20, unique=True)),
                ("count", models.PositiveIntegerField(default=0)),
                ("note", models.TextField(default="")),
                (
                    "parent",
                    models.ForeignKey(
                        null=True, on_delete=models.CASCADE, to="railops_testapp.shelf"
                    ),
                ),
            ],
            options={
                "unique_together": {("name", "note")},
                "indexes": [models.Index(Lower("note"), name="shelf_lower_note_idx")],
                "constraints": [
                    models.CheckConstraint(
                        **{CONDITION: ~models.Q(note="none")}, name="shelf_note_not_none"
                    )
                ],
            },
        ),
    ]
