from django.apps import AppConfig


class FailappConfig(AppConfig):
    name = "tests.deploy.failapp"
    label = "railops_failapp"
