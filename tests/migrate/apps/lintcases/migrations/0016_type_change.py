from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0015_add_unique")]

    operations = [
        migrations.AlterField("item", "price", models.FloatField()),
    ]
