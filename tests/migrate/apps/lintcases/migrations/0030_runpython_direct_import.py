from django.db import migrations, models


def fill_direct(apps, schema_editor):
    from tests.migrate.apps.lintcases.models import Item  # the mistake this rule catches

    Item.objects.update(qty2=1)


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0029_runpython_with_reverse")]

    operations = [
        migrations.RunPython(fill_direct, migrations.RunPython.noop),
    ]
