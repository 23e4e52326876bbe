from django.db import migrations, models
from django.db.models.functions import Random


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0008_add_not_null_db_default")]

    operations = [
        migrations.AddField("item", "score", models.FloatField(null=True, db_default=Random())),
    ]
