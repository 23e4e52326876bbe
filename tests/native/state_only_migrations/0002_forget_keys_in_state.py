from django.db import migrations, models


class Migration(migrations.Migration):
    """State only, as django-oscar's customer 0006 / communication 0001: the database keeps the
    index on name and the unique constraint on code, the state no longer has them."""

    dependencies = [("railops_testapp", "0001_initial")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField("Shelf", "name", models.CharField(max_length=50)),
                migrations.AlterField("Shelf", "code", models.CharField(max_length=20)),
            ]
        )
    ]
