from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0014_add_check")]

    operations = [
        migrations.AddConstraint("item", models.UniqueConstraint(fields=["code"], name="item_code_uniq")),
    ]
