from django.db import migrations


class Migration(migrations.Migration):
    """Renames keep the generated names: the index on ``name`` is still called after it."""

    dependencies = [("railops_testapp", "0001_initial")]
    operations = [
        migrations.RenameField("Shelf", "name", "title"),
        migrations.RenameField("Shelf", "code", "label"),
        migrations.RenameField("Shelf", "count", "quantity"),
        migrations.RenameModel("Shelf", "Rack"),
    ]
