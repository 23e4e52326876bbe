from django.db import migrations, models


class Migration(migrations.Migration):
    # On a replaced migration, not on the squash, as wagtailcore's 0017 is.
    dependencies = [("railops_testapp", "0002_shelf_label")]
    operations = [
        migrations.AddField("shelf", "colour", models.CharField(max_length=20, null=True)),
    ]
