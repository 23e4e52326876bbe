"""A migration that fails when applied: a deploy must stop and leave the schema as it was."""

from django.db import migrations


def explode(apps, schema_editor):
    raise RuntimeError("this migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("railops_failapp", "0001_initial")]
    operations = [migrations.RunPython(explode, migrations.RunPython.noop)]
