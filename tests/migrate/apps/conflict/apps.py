from django.apps import AppConfig


class ConflictConfig(AppConfig):
    name = "tests.migrate.apps.conflict"
    label = "conflict"
    default_auto_field = "django.db.models.BigAutoField"
