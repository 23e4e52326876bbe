from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0022_drop_column")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("item", "legacy")]),
    ]
