from django.db import migrations


def check(apps, schema_editor):
    # Relies on 0002's row in the database being migrated, as wagtail's 0090 does.
    shelf = apps.get_model("railops_testapp", "Shelf")
    shelf.objects.using(schema_editor.connection.alias).get(name="seed")


class Migration(migrations.Migration):
    dependencies = [("railops_testapp", "0002_seed_on_default")]
    operations = [migrations.RunPython(check, migrations.RunPython.noop)]
