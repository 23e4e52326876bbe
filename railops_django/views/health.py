"""``railops/health/`` (the deploy gate for Railway's healthcheckPath), ``railops/health/live/``
and ``railops/metrics/``."""

from __future__ import annotations

import json

from django.db import DEFAULT_DB_ALIAS
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .. import health, render
from ..health import gate
from .access import privileged

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@never_cache
@require_safe
def health_gate(request: HttpRequest) -> HttpResponse:
    """200 when this process can serve, else 503 with the failing check ids.

    Anonymous callers get the status and the failing ids; staff and token holders also get the
    masked report (details, fixes and timings).
    """
    report = gate.run(DEFAULT_DB_ALIAS)
    failing = gate.failing_ids(report)
    body: dict[str, object] = {"status": "fail" if failing else "ok", "failing": failing}
    if privileged(request):
        body["report"] = json.loads(render.as_json(report))
    return JsonResponse(body, status=503 if failing else 200)


@never_cache
@require_safe
def live(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches nothing else (no database, no cache)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """db_health's OpenMetrics families, for a Prometheus scrape (bearer token or staff).

    401 (with ``WWW-Authenticate: Bearer``) for a caller that sent no credentials, 403 for a
    wrong token or a signed-in user who is not staff.
    """
    if not privileged(request):
        user = getattr(request, "user", None)
        signed_in = bool(user is not None and user.is_authenticated)
        if request.headers.get("Authorization") or signed_in:
            return HttpResponse("forbidden\n", status=403, content_type="text/plain")
        response = HttpResponse(
            "a bearer token is required\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="railops"'
        return response
    report = health.run(DEFAULT_DB_ALIAS)
    return HttpResponse(render.openmetrics(report), content_type=OPENMETRICS)
