from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0007_add_not_null")]

    operations = [
        migrations.AddField("item", "qty2", models.IntegerField(db_default=0, default=0)),
    ]
