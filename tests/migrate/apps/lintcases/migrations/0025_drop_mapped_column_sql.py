from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0024_drop_unmapped_column_sql")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE lintcases_item DROP COLUMN code",
            migrations.RunSQL.noop,
        ),
    ]
