from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("railops_r2app", "0002_gadget_color")]
    operations = [
        migrations.CreateModel(
            name="Accessory",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("label", models.CharField(max_length=50)),
                (
                    "gadget",
                    models.ForeignKey(on_delete=models.deletion.CASCADE, to="railops_r2app.gadget"),
                ),
            ],
        )
    ]
