from django.apps import AppConfig


class LintcasesConfig(AppConfig):
    name = "tests.migrate.apps.lintcases"
    label = "lintcases"
    default_auto_field = "django.db.models.BigAutoField"
