from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0006_concurrently_in_atomic")]

    operations = [
        migrations.AddField("item", "qty", models.IntegerField(default=0)),
    ]
