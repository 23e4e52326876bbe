from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0026_drop_table")]

    operations = [
        migrations.RunSQL("UPDATE lintcases_item SET qty = 1"),
    ]
