from django.apps import AppConfig


class RenamecaseConfig(AppConfig):
    name = "tests.migrate.apps.renamecase"
    label = "renamecase"
    default_auto_field = "django.db.models.BigAutoField"
