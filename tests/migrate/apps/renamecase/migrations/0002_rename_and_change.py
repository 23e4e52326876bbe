from django.db import migrations, models


class Migration(migrations.Migration):
    """Every step here would be a finding on a table that already holds data."""

    dependencies = [("renamecase", "0001_initial")]

    operations = [
        migrations.RenameModel("Draft", "Note"),
        migrations.AlterField("note", "title", models.CharField(max_length=20, db_index=True)),
        migrations.AddField("note", "rank", models.IntegerField(default=0)),
        migrations.RenameField("note", "old", "older"),
        migrations.AlterModelTable("box", "renamecase_boxes"),
        migrations.AddField("box", "size", models.IntegerField(default=0)),
        migrations.AlterField("box", "label", models.CharField(max_length=20, unique=True)),
        migrations.RemoveField("box", "size"),
    ]
