from django.apps import AppConfig


class LossfailConfig(AppConfig):
    name = "tests.migrate.apps.lossfail"
    label = "lossfail"
    default_auto_field = "django.db.models.BigAutoField"
