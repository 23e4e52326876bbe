from django.db import migrations, models


class Migration(migrations.Migration):
    railops_allow_unsafe = ["add_index"]
    dependencies = [("lintcases", "0032_mixed")]

    operations = [
        migrations.AddIndex("item", models.Index(fields=["qty2"], name="item_qty2_idx")),
    ]
