from django.apps import AppConfig


class LocksafeConfig(AppConfig):
    name = "tests.migrate.apps.locksafe"
    label = "locksafe"
    default_auto_field = "django.db.models.BigAutoField"
