"""As django-oscar's communication app does: a model of another name takes over the table, in
the state only (nothing runs in the database)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("adoptcase", "0001_initial")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="EventType"),
                migrations.CreateModel(
                    name="CommunicationType",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("code", models.CharField(max_length=20)),
                        ("note", models.CharField(max_length=50, default="")),
                    ],
                    options={"db_table": "adoptcase_eventtype"},
                ),
            ]
        ),
    ]
