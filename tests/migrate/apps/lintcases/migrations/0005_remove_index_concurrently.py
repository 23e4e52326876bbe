from django.db import migrations, models
from django.contrib.postgres.operations import RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("lintcases", "0004_remove_index")]

    operations = [
        RemoveIndexConcurrently("item", "item_code_idx"),
    ]
