from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("adoptcase", "0003_rename")]
    operations = [
        migrations.RemoveField(model_name="communicationtype", name="note"),
        migrations.AlterField(
            model_name="communicationtype",
            name="code",
            field=models.CharField(max_length=20, db_index=True),
        ),
    ]
