"""railops' deploy gate as django-health-check (4.x) checks, for projects that already serve
its view. Importable only when django-health-check is installed::

    path("ht/", HealthCheckView.as_view(checks=[
        "health_check.checks.Database",
        "railops_django.health.django_health_check.DeployGate",
    ])),

``DeployGate`` fails on anything that makes ``railops/health/`` answer 503; ``Migrations``,
``SchemaDrift`` and ``StaticManifest`` each look at one of its checks only.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from . import gate


@dataclasses.dataclass
class DeployGate(HealthCheck):  # type: ignore[misc]  # django-health-check is untyped
    """Every check of ``railops/health/``: database, migrations, schema drift, static manifest."""

    alias: str = "default"
    prefixes: ClassVar[tuple[str, ...]] = ("",)

    def run(self) -> None:
        report = gate.run(self.alias)
        failing = [i for i in gate.failing_ids(report) if i.startswith(self.prefixes)]
        if failing:
            raise ServiceUnavailable(", ".join(failing))


@dataclasses.dataclass
class Migrations(DeployGate):
    """No migration of the installed code is unapplied."""

    prefixes: ClassVar[tuple[str, ...]] = ("health.gate.migrations", "health.gate.connect")


@dataclasses.dataclass
class SchemaDrift(DeployGate):
    """The models' tables and columns exist in the live database."""

    prefixes: ClassVar[tuple[str, ...]] = ("schema.drift", "health.gate.connect")


@dataclasses.dataclass
class StaticManifest(DeployGate):
    """The static files manifest exists when manifest storage is used."""

    prefixes: ClassVar[tuple[str, ...]] = ("diagnose.static",)
