from django.apps import AppConfig


class FailBConfig(AppConfig):
    name = "tests.migrate.apps.fail_b"
    label = "fail_b"
    default_auto_field = "django.db.models.BigAutoField"
