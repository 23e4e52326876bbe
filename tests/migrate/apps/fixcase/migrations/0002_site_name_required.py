from django.db import migrations, models


class Migration(migrations.Migration):
    """As Wagtail's 0046: fill the NULLs, then SET NOT NULL, in one migration."""

    dependencies = [("fixcase", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "UPDATE fixcase_site SET site_name = '' WHERE site_name IS NULL",
            migrations.RunSQL.noop,
        ),
        migrations.AlterField("site", "site_name", models.CharField(max_length=20)),
    ]
