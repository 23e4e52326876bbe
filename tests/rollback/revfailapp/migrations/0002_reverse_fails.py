"""A data migration whose reverse_code has a bug: unapplying it raises a plain RuntimeError."""

from django.db import migrations


def backwards(apps, schema_editor):
    raise RuntimeError("the reverse of this data migration has a bug")


class Migration(migrations.Migration):
    dependencies = [("railops_revfailapp", "0001_initial")]
    operations = [migrations.RunPython(migrations.RunPython.noop, backwards)]
