"""Sleeps 2 s on PostgreSQL (fails under a short statement_timeout); fails on SQLite."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("fail_c", "0001_initial")]

    operations = [migrations.RunSQL("SELECT pg_sleep(2)", migrations.RunSQL.noop)]
