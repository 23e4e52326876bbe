"""A URLconf that serves django-health-check's own view with railops' checks as its plugins."""

from django.urls import path
from health_check.views import HealthCheckView

urlpatterns = [
    path(
        "ht/",
        HealthCheckView.as_view(
            checks=[
                "railops_django.health.django_health_check.DeployGate",
                "railops_django.health.django_health_check.Migrations",
                "railops_django.health.django_health_check.SchemaDrift",
                "railops_django.health.django_health_check.StaticManifest",
            ]
        ),
    ),
]
