from django.apps import AppConfig


class R2Config(AppConfig):
    name = "tests.rollback.r2app"
    label = "railops_r2app"
