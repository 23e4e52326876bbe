from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("railops_r2app", "0001_initial")]
    operations = [
        migrations.AddField("gadget", "color", models.CharField(max_length=20, null=True)),
    ]
