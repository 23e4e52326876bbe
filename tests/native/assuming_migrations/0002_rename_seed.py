from django.db import migrations


def rename(apps, schema_editor):
    # Assumes a row someone added by hand (as data migrations doing Site.objects.get(pk=1) do):
    # it ran on the database it was written for, and fails on a freshly migrated one.
    shelf = apps.get_model("railops_testapp", "Shelf")
    row = shelf.objects.using(schema_editor.connection.alias).get(name="added by hand")
    row.name = "renamed"
    row.save()


class Migration(migrations.Migration):
    dependencies = [("railops_testapp", "0001_initial")]
    operations = [migrations.RunPython(rename, migrations.RunPython.noop)]
