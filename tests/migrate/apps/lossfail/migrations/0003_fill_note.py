"""Rewrites every row with no way back (reverse is a no-op)."""

from django.db import migrations


def fill(apps, schema_editor):
    apps.get_model("lossfail", "Item").objects.update(note="filled")


class Migration(migrations.Migration):
    dependencies = [("lossfail", "0002_remove_item_stock")]
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
