from django.apps import AppConfig


class FixcaseConfig(AppConfig):
    name = "tests.migrate.apps.fixcase"
    label = "fixcase"
    default_auto_field = "django.db.models.BigAutoField"
