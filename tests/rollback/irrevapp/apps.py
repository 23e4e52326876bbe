from django.apps import AppConfig


class IrrevConfig(AppConfig):
    name = "tests.rollback.irrevapp"
    label = "railops_irrevapp"
