from django.apps import AppConfig


class FillcaseConfig(AppConfig):
    name = "tests.migrate.apps.fillcase"
    label = "fillcase"
    default_auto_field = "django.db.models.BigAutoField"
