from django.db import DEFAULT_DB_ALIAS, migrations


def seed(apps, schema_editor):
    # As django.contrib.auth's create_permissions() does when a migration calls it without
    # ``using`` (wagtail's 0086): the rows go to DEFAULT_DB_ALIAS, whatever migrate runs on.
    shelf = apps.get_model("railops_testapp", "Shelf")
    shelf.objects.using(DEFAULT_DB_ALIAS).get_or_create(name="seed")


class Migration(migrations.Migration):
    dependencies = [("railops_testapp", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
