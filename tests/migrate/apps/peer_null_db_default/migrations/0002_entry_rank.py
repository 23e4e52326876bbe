from django.db import migrations, models


class Migration(migrations.Migration):
    """db_default=None on a NOT NULL column: DEFAULT NULL, so every old INSERT fails."""

    dependencies = [("peer_null_db_default", "0001_initial")]

    operations = [
        migrations.AddField(
            "entry", "rank", models.IntegerField(db_default=None, default=None, null=False)
        ),
    ]
