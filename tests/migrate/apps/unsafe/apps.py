from django.apps import AppConfig


class UnsafeConfig(AppConfig):
    name = "tests.migrate.apps.unsafe"
    label = "unsafe"
    default_auto_field = "django.db.models.BigAutoField"
