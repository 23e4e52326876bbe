"""Irreversible: RunPython without reverse_code."""

from django.db import migrations, models


def forward(apps, schema_editor):
    apps.get_model("fail_c", "Gamma").objects.create()


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Gamma", fields=[("id", models.BigAutoField(primary_key=True, serialize=False))]
        ),
        migrations.RunPython(forward),
    ]
