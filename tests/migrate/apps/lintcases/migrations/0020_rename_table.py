from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintcases", "0019_rename_field_keep_column")]

    operations = [
        migrations.RenameModel("Tag", "Label"),
    ]
