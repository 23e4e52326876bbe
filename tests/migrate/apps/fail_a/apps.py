from django.apps import AppConfig


class FailAConfig(AppConfig):
    name = "tests.migrate.apps.fail_a"
    label = "fail_a"
    default_auto_field = "django.db.models.BigAutoField"
