from django.db import migrations


class Migration(migrations.Migration):
    """As django-oscar's communication 0002: the table is renamed, its index names stay."""

    dependencies = [("railops_testapp", "0002_forget_keys_in_state")]
    operations = [migrations.AlterModelTable("Shelf", "railops_testapp_rack")]
