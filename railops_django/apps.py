from __future__ import annotations

import sys
from typing import Any

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

        checks.register(conf.check_settings, "railops")
        # the health gate caches the migration state: a migrate in this process resets it
        post_migrate.connect(_forget_health_cache, dispatch_uid="railops_health_gate")
        checks.register(_railway_system_check, "railway", deploy=True)


# Both stand in for code that ready() does not import: every command, worker and test starts
# faster without the diagnosis's probes (about 60 ms of imports) unless they are used.


def _forget_health_cache(**kwargs: Any) -> None:
    """post_migrate: clear the health gate's cache, if this process has one."""
    gate = sys.modules.get("railops_django.health.gate")
    if gate is not None:
        gate.forget_after_migrate(**kwargs)


def _railway_system_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy``: the diagnosis's no-I/O probes (``diagnose.checks``)."""
    from .diagnose.checks import railway_system_check

    return railway_system_check(app_configs, **kwargs)
