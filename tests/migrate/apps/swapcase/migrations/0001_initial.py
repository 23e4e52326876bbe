from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Account",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("nick", models.CharField(max_length=20, null=True)),
            ],
            options={"swappable": "RAILOPS_TEST_ACCOUNT_MODEL"},
        ),
    ]
