from django.db import migrations, models


def seed(apps, schema_editor):
    apps.get_model("railops_testapp", "Shelf").objects.create(name="seed")


class Migration(migrations.Migration):
    """A squash shipped next to the migrations it replaces, as wagtail ships its own."""

    initial = True
    replaces = [("railops_testapp", "0001_initial"), ("railops_testapp", "0002_shelf_label")]
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            name="Shelf",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
                ("label", models.CharField(max_length=50, null=True)),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
