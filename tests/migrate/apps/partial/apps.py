from django.apps import AppConfig


class PartialConfig(AppConfig):
    name = "tests.migrate.apps.partial"
    label = "partial"
    default_auto_field = "django.db.models.BigAutoField"
