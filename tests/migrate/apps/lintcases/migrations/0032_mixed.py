from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0031_backfill_with_schema")]

    operations = [
        migrations.AddField("item", "extra", models.TextField(null=True)),
        migrations.RemoveField("item", "qty"),
    ]
