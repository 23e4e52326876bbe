from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conflict", "0001_initial")]

    operations = [
        migrations.AddField("thing", "right", models.IntegerField(null=True)),
    ]
