from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0033_allowed_by_attribute")]

    operations = [
        migrations.AddField("item", "stock", models.PositiveIntegerField(null=True)),
    ]
