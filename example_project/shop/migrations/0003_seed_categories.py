"""Data migration with a reverse: the categories every shop starts with."""

from django.db import migrations

CATEGORIES = [("Books", "books"), ("Music", "music"), ("Games", "games")]


def add_categories(apps, schema_editor):
    Category = apps.get_model("shop", "Category")
    for name, slug in CATEGORIES:
        Category.objects.using(schema_editor.connection.alias).get_or_create(
            slug=slug, defaults={"name": name}
        )


def remove_categories(apps, schema_editor):
    Category = apps.get_model("shop", "Category")
    Category.objects.using(schema_editor.connection.alias).filter(
        slug__in=[slug for _, slug in CATEGORIES], products__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_product_stock")]

    operations = [migrations.RunPython(add_categories, remove_categories)]
