from django.apps import AppConfig


class FailCConfig(AppConfig):
    name = "tests.migrate.apps.fail_c"
    label = "fail_c"
    default_auto_field = "django.db.models.BigAutoField"
