"""``path("railops/", include("railops_django.urls"))``: the health gate, liveness, metrics and
the staff dashboard."""

from __future__ import annotations

from django.urls import path

from .views import dashboard, health

app_name = "railops"

urlpatterns = [
    path("", dashboard.overview, name="overview"),
    path("releases/", dashboard.releases, name="releases"),
    path("backups/", dashboard.backups, name="backups"),
    path("database/", dashboard.database, name="database"),
    path("database/cancel/", dashboard.cancel_query, name="cancel_query"),
    path("history/", dashboard.history_page, name="history"),
    path("health/", health.health_gate, name="health"),
    path("health/live/", health.live, name="live"),
    path("metrics/", health.metrics, name="metrics"),
]
