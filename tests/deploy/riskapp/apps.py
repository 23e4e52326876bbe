from django.apps import AppConfig


class RiskappConfig(AppConfig):
    name = "tests.deploy.riskapp"
    label = "railops_riskapp"
