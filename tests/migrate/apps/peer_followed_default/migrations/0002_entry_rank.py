from django.db import migrations, models

from tests.migrate.apps.peer_followed_default.operations import SetColumnDefault


class Migration(migrations.Migration):
    """NOT NULL column added, then given a database default in the same migration: safe."""

    dependencies = [("peer_followed_default", "0001_initial")]

    operations = [
        migrations.AddField("entry", "rank", models.IntegerField(default=1)),
        SetColumnDefault("entry", "rank", 1),
    ]
