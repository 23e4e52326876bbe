"""The safe way to index an existing table (PostgreSQL only)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("concurrent", "0001_initial")]

    operations = [
        AddIndexConcurrently("row", models.Index(fields=["code"], name="concurrent_row_code_idx")),
    ]
