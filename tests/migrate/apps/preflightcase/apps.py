from django.apps import AppConfig


class PreflightcaseConfig(AppConfig):
    name = "tests.migrate.apps.preflightcase"
    label = "preflightcase"
    default_auto_field = "django.db.models.BigAutoField"
