"""A data migration without a reverse: rolling back past it is impossible."""

from django.db import migrations


def backfill(apps, schema_editor):
    Note = apps.get_model("railops_irrevapp", "Note")
    Note.objects.using(schema_editor.connection.alias).update(text="backfilled")


class Migration(migrations.Migration):
    dependencies = [("railops_irrevapp", "0001_initial")]
    operations = [migrations.RunPython(backfill)]
