from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0003_add_index_concurrently")]

    operations = [
        migrations.RemoveIndex("item", "item_name_idx"),
    ]
