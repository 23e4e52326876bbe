from django.db import migrations

from tests.native.outside_operations import Careless, CountNames, NeedsTheDatabase


class Migration(migrations.Migration):
    dependencies = [("railops_testapp", "0001_initial")]
    operations = [
        # inside a SeparateDatabaseAndState, as squashes and hand-split migrations hold them
        migrations.SeparateDatabaseAndState(
            database_operations=[CountNames(model_name="shelf", tag="shelf_count")]
        ),
        NeedsTheDatabase(model_name="shelf", tag="shelf_opaque"),
        Careless(model_name="shelf", tag="shelf_careless"),
    ]
