"""Drops a column that holds data: unapplying it brings the column back empty."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("lossfail", "0001_initial")]
    operations = [migrations.RemoveField("item", "stock")]
