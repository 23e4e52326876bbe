from django.contrib.auth.models import Group  # imported by the module, not used below
from django.db import migrations


def fill_historical(apps, schema_editor):
    historical = apps.get_model("auth", "Group")
    historical.objects.filter(name="").update(name="unnamed")


assert Group  # the module still holds the import, as Wagtail's squashed migrations do


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0034_add_positive"), ("auth", "0001_initial")]

    operations = [migrations.RunPython(fill_historical, migrations.RunPython.noop)]
