from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sizecase", "0001_initial")]

    operations = [
        migrations.AlterField("row", "name", models.CharField(max_length=20, db_index=True)),
    ]
