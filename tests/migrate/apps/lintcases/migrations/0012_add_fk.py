from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0011_drop_not_null")]

    operations = [
        migrations.AddField("item", "tag", models.ForeignKey("lintcases.tag", models.CASCADE, null=True)),
    ]
