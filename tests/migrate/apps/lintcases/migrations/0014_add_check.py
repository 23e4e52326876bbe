from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0013_add_fk_no_constraint")]

    operations = [
        migrations.AddConstraint("item", models.CheckConstraint(condition=models.Q(price__gte=0), name="item_price_gte_0")),
    ]
