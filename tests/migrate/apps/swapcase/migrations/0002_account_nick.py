from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("swapcase", "0001_initial")]

    operations = [
        migrations.AlterField("account", "nick", models.CharField(max_length=20, db_index=True)),
        migrations.AddField("account", "level", models.IntegerField(default=0)),
    ]
