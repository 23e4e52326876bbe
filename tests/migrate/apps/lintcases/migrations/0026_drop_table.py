from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0025_drop_mapped_column_sql")]

    operations = [
        migrations.DeleteModel("Pinned"),
    ]
