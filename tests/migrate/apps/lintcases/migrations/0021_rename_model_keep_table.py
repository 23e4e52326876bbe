from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0020_rename_table")]

    operations = [
        migrations.RenameModel("Fixed", "Pinned"),
    ]
