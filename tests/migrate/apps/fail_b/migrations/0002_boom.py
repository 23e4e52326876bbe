"""Adds a column, then fails: the whole plan must be undone."""

from django.db import migrations, models


def boom(apps, schema_editor):
    raise RuntimeError("boom: this migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("fail_b", "0001_initial")]

    operations = [
        migrations.AddField("beta", "weight", models.IntegerField(null=True)),
        migrations.RunPython(boom, migrations.RunPython.noop),
    ]
