from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0017_safe_type_change")]

    operations = [
        migrations.RenameField("item", "old_name", "new_name"),
    ]
