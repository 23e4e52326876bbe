from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("railops_testapp", "0001_initial")]
    operations = [
        migrations.AddField("shelf", "label", models.CharField(max_length=50, null=True)),
    ]
