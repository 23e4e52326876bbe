from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0018_rename_column")]

    operations = [
        migrations.RenameField("item", "alias", "nickname"),
    ]
