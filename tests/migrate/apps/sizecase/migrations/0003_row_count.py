from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sizecase", "0002_name_index")]

    operations = [migrations.AddField("row", "count", models.IntegerField(default=0))]
