from django.db import migrations, models


def fill(apps, schema_editor):
    Item = apps.get_model("lintcases", "Item")
    Item.objects.update(qty2=1)


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0027_runsql_no_reverse")]

    operations = [
        migrations.RunPython(fill),
    ]
