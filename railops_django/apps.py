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
        from django.db.models.signals import post_migrate

        from . import conf
        from .diagnose.checks import TAG, railway_system_check
        from .health import gate

        checks.register(conf.check_settings, "railops")
        # the health gate caches the migration state: a migrate in this process resets it
        post_migrate.connect(gate.forget_after_migrate, dispatch_uid="railops_health_gate")
        checks.register(railway_system_check, TAG, deploy=True)
