from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conflict", "0001_initial")]

    operations = [
        migrations.AddField("thing", "left", models.IntegerField(null=True)),
    ]
