from __future__ import annotations

import sys

from django.apps import AppConfig
from django.core import checks

from .__main__ import guard_manage_startup

# Before the other apps load: manage.py railway_diagnose still answers if one of them fails.
guard_manage_startup(sys.argv)


class RailopsConfig(AppConfig):
    name = "railops_django"
    verbose_name = "railops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import conf
        from .diagnose.checks import TAG, railway_system_check

        checks.register(conf.check_settings, "railops")
        checks.register(railway_system_check, TAG, deploy=True)
