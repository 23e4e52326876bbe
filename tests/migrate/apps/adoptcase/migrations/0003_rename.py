from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("adoptcase", "0002_adopt")]
    operations = [
        migrations.AlterModelTable(name="communicationtype", table="adoptcase_communicationtype"),
    ]
