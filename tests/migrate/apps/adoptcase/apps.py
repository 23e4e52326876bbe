from django.apps import AppConfig


class AdoptcaseConfig(AppConfig):
    name = "tests.migrate.apps.adoptcase"
    label = "adoptcase"
    default_auto_field = "django.db.models.BigAutoField"
