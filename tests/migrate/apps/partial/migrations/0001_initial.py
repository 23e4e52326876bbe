"""Not atomic: the table stays when the second operation fails."""

from django.db import migrations, models


def boom(apps, schema_editor):
    raise RuntimeError("boom after the table was created")


class Migration(migrations.Migration):
    atomic = False
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Half", fields=[("id", models.BigAutoField(primary_key=True, serialize=False))]
        ),
        migrations.RunPython(boom, migrations.RunPython.noop),
    ]
