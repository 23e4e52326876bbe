from django.db import migrations


class Migration(migrations.Migration):
    """A column renamed on a table that exists before the deploy: old code still reads 'title'."""

    dependencies = [("railops_riskapp", "0001_initial")]
    operations = [migrations.RenameField("Gadget", "title", "name")]
