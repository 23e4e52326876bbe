from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[("id", models.BigAutoField(primary_key=True, serialize=False)), ("label", models.CharField(max_length=30))],
        ),
        migrations.CreateModel(
            name="Fixed",
            fields=[("id", models.BigAutoField(primary_key=True, serialize=False))],
            options={"db_table": "lintcases_fixed_tbl"},
        ),
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50, null=True)),
                ("code", models.CharField(max_length=20)),
                ("price", models.DecimalField(max_digits=8, decimal_places=2)),
                ("note", models.TextField(null=True)),
                ("legacy", models.CharField(max_length=10, null=True)),
                ("old_name", models.CharField(max_length=10, null=True)),
                ("alias", models.CharField(max_length=10, null=True, db_column="alias_col")),
            ],
        ),
    ]
