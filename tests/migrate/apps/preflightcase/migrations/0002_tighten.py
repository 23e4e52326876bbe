from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("preflightcase", "0001_initial")]

    operations = [
        migrations.AlterField("thing", "name", models.CharField(max_length=20)),
        migrations.AddConstraint(
            "thing", models.UniqueConstraint(fields=["code"], name="preflight_code_uniq")
        ),
    ]
