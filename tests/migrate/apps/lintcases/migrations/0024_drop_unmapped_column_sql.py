from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0023_remove_from_state_only")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE lintcases_item DROP COLUMN legacy",
            "ALTER TABLE lintcases_item ADD COLUMN legacy varchar(10) NULL",
        ),
    ]
