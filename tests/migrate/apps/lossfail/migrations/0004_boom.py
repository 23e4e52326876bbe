"""Fails: safe_migrate unapplies 0003 and 0002, which gives neither the data back."""

from django.db import migrations


def boom(apps, schema_editor):
    raise RuntimeError("boom after a column was dropped")


class Migration(migrations.Migration):
    dependencies = [("lossfail", "0003_fill_note")]
    operations = [migrations.RunPython(boom, migrations.RunPython.noop)]
