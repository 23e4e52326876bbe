from django.db import migrations, models


def fill(apps, schema_editor):
    Item = apps.get_model("lintcases", "Item")
    Item.objects.update(qty2=1)


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0030_runpython_direct_import")]

    operations = [
        migrations.AddField("item", "flag", models.BooleanField(db_default=False, default=False)),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
