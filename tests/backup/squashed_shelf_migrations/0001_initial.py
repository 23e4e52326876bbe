from django.db import migrations, models


def seed(apps, schema_editor):
    # As wagtail's initial_data does: no .using(), so the router decides the database.
    apps.get_model("railops_testapp", "Shelf").objects.create(name="seed")


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            name="Shelf",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
