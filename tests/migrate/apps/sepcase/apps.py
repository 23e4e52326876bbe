from django.apps import AppConfig


class SepcaseConfig(AppConfig):
    name = "tests.migrate.apps.sepcase"
    label = "sepcase"
    default_auto_field = "django.db.models.BigAutoField"
