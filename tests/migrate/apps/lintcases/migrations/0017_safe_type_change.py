from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0016_type_change")]

    operations = [
        migrations.AlterField("item", "code", models.CharField(max_length=40)),
    ]
