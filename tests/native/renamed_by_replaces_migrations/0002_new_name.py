from django.db import migrations


def seed(apps, schema_editor):
    shelf = apps.get_model("railops_testapp", "Shelf")
    shelf.objects.using(schema_editor.connection.alias).create(name="seed")


class Migration(migrations.Migration):
    # A rename by ``replaces``, as django-oscar's basket 0010_convert_to_valid_json does: the
    # old name is no longer a file, and migrate records both names.
    replaces = [("railops_testapp", "0002_old_name")]
    dependencies = [("railops_testapp", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
