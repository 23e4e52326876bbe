from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0009_volatile_default")]

    operations = [
        migrations.AlterField("item", "name", models.CharField(max_length=50)),
    ]
