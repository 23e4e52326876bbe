from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0005_remove_index_concurrently")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY item_price_idx ON lintcases_item (price)",
            "DROP INDEX CONCURRENTLY item_price_idx",
        ),
    ]
