from django.db import migrations, models
from django.contrib.postgres.operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("lintcases", "0002_add_index")]

    operations = [
        AddIndexConcurrently("item", models.Index(fields=["code"], name="item_code_idx")),
    ]
