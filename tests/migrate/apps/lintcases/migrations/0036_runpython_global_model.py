from django.contrib.auth.models import Group
from django.db import migrations


def fill_with_todays_model(apps, schema_editor):
    Group.objects.filter(name="").update(name="unnamed")  # today's model: the mistake


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0035_runpython_get_model")]

    operations = [migrations.RunPython(fill_with_todays_model, migrations.RunPython.noop)]
