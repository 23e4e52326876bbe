"""Safe by the lint rules (constant db_default), yet it needs an ACCESS EXCLUSIVE lock."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("locksafe", "0001_initial")]

    operations = [
        migrations.AddField("item", "flag", models.BooleanField(db_default=False, default=False)),
    ]
