from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("fail_a", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Beta",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("alpha", models.ForeignKey("fail_a.alpha", models.CASCADE)),
            ],
        ),
    ]
