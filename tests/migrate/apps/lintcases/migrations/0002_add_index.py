from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0001_initial")]

    operations = [
        migrations.AddIndex("item", models.Index(fields=["name"], name="item_name_idx")),
    ]
