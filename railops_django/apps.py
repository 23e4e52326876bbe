from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class RailopsConfig(AppConfig):
    name = "railops_django"
    verbose_name = "railops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import conf
        from .diagnose.checks import TAG, railway_system_check

        checks.register(conf.check_settings, "railops")
        checks.register(railway_system_check, TAG, deploy=True)
