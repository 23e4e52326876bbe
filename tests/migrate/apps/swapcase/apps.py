from django.apps import AppConfig


class SwapcaseConfig(AppConfig):
    name = "tests.migrate.apps.swapcase"
    label = "swapcase"
    default_auto_field = "django.db.models.BigAutoField"
