from django.apps import AppConfig


class RevfailConfig(AppConfig):
    name = "tests.rollback.revfailapp"
    label = "railops_revfailapp"
