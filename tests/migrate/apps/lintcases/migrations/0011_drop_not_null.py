from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0010_set_not_null")]

    operations = [
        migrations.AlterField("item", "name", models.CharField(max_length=50, null=True)),
    ]
