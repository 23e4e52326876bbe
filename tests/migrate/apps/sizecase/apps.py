from django.apps import AppConfig


class SizecaseConfig(AppConfig):
    name = "tests.migrate.apps.sizecase"
    label = "sizecase"
    default_auto_field = "django.db.models.BigAutoField"
