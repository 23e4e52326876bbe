from django.apps import AppConfig


class ConcurrentConfig(AppConfig):
    name = "tests.migrate.apps.concurrent"
    label = "concurrent"
    default_auto_field = "django.db.models.BigAutoField"
