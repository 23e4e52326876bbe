from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0021_rename_model_keep_table")]

    operations = [
        migrations.RemoveField("item", "note"),
    ]
