from django.db import migrations, models
from django.db.models.functions import Now


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            name="Shelf",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "name",
                    models.CharField(
                        max_length=50, db_default="unnamed", db_comment="shown on the label"
                    ),
                ),
                ("slots", models.IntegerField(db_default=0)),
                ("added", models.DateTimeField(db_default=Now())),
                (
                    "double_slots",
                    models.GeneratedField(
                        expression=models.F("slots") * 2,
                        output_field=models.IntegerField(),
                        db_persist=True,
                    ),
                ),
            ],
            options={"db_table_comment": "Shelves in the shop"},
        ),
    ]
