from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0012_add_fk")]

    operations = [
        migrations.AddField("item", "tag2", models.ForeignKey("lintcases.tag", models.CASCADE, null=True, db_constraint=False, db_index=False, related_name="+")),
    ]
