from django.db import migrations, models


class Migration(migrations.Migration):
    """As Wagtail's 0046: NOT NULL with a default; Django fills the NULL rows before SET NOT NULL."""

    dependencies = [("fillcase", "0001_initial")]

    operations = [
        migrations.AlterField(
            "site", "site_name", models.CharField(max_length=20, default=""), preserve_default=False
        ),
    ]
