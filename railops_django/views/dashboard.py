"""The staff dashboard at ``railops/``: overview, releases, backups, database and history.

Anonymous users are sent to the admin login; signed-in users who are not staff get 403. Each
page renders Reports the commands build (the health gate, ``railway_deploy --history``,
``backup list``/``report``/``cleanup --dry-run``, ``db_health``), masked by ``render`` before
they reach a template. Charts are server-rendered SVG (``charts.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render as render_template
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .. import deploy, health, redact, render
from ..backup import overview as backup_overview
from ..backup import retention
from ..db import health as db_health
from ..health import gate, history
from ..report import CannotRun, Report
from . import charts
from .access import staff_required

PAGES = (
    ("overview", "Overview"),
    ("releases", "Releases"),
    ("backups", "Backups"),
    ("database", "Database"),
    ("history", "History"),
)
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _masked(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render.as_json(report))
    return data


def _section(title: str, build: Callable[[], Report]) -> dict[str, Any]:
    """One report for a page; a section that cannot be built says why and hides nothing else."""
    try:
        return {"title": title, "report": _masked(build()), "error": ""}
    except (CannotRun, DatabaseError, OSError, ValueError, KeyError, TypeError) as exc:
        return {"title": title, "report": None, "error": redact.mask_exception(exc)}


def _page(request: HttpRequest, page: str, context: dict[str, Any]) -> HttpResponse:
    nav = [
        {"name": n, "title": t, "url": reverse(f"railops:{n}"), "current": n == page}
        for n, t in PAGES
    ]
    return render_template(
        request,
        f"railops/{page}.html",
        {"title": f"railops: {dict(PAGES)[page].lower()}", "nav": nav, **context},
    )


@never_cache
@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    alias = DEFAULT_DB_ALIAS
    sections = [
        _section("Health", lambda: gate.run(alias)),
        _section("Releases", lambda: deploy.history(alias, limit=5)),
        _section("Backups", lambda: backup_overview.report(alias)),
    ]
    return _page(request, "overview", {"sections": sections})


@never_cache
@staff_required
def releases(request: HttpRequest) -> HttpResponse:
    section = _section("Releases", lambda: deploy.history(DEFAULT_DB_ALIAS, limit=50))
    return _page(request, "releases", {"section": section})


def _backup_charts(rows: list[dict[str, Any]]) -> list[str]:
    points = []
    for row in rows:
        try:
            at = datetime.fromisoformat(str(row["created_at"]))
            points.append((at, float(row["size"])))
        except (KeyError, TypeError, ValueError):
            continue
    points.sort()
    now = timezone.now()
    ages = [(at, (now - at).total_seconds() / 3600) for at, _ in points]
    return [
        charts.line_chart("Backup size", "bytes", points, chart_id="chart-backup-size"),
        charts.line_chart("Backup age", "h", ages, chart_id="chart-backup-age"),
    ]


@never_cache
@staff_required
def backups(request: HttpRequest) -> HttpResponse:
    listing = _section("Backups", lambda: backup_overview.listing(DEFAULT_DB_ALIAS))
    rows = (listing["report"] or {}).get("backups") or []
    return _page(
        request,
        "backups",
        {
            "listing": listing,
            "report": _section("3-2-1 report", lambda: backup_overview.report(DEFAULT_DB_ALIAS)),
            "retention": _section(
                "Retention plan (what cleanup would delete)",
                lambda: retention.cleanup(dry_run=True),
            ),
            "charts": _backup_charts(rows),
        },
    )


@never_cache
@staff_required
def database(request: HttpRequest) -> HttpResponse:
    section = _section("Database", lambda: health.run(DEFAULT_DB_ALIAS))
    report = section["report"] or {}
    return _page(
        request,
        "database",
        {
            "section": section,
            "running": report.get("running_queries") or [],
            "slow": report.get("slow_statements") or [],
            "tables": report.get("largest_tables") or [],
            "can_cancel": request.user.is_superuser,
        },
    )


@never_cache
@staff_required
@require_POST
def cancel_query(request: HttpRequest) -> HttpResponse:
    """Superusers only, POST with CSRF and an explicit confirmation; logged."""
    if not request.user.is_superuser:
        raise PermissionDenied
    back = HttpResponseRedirect(reverse("railops:database"))
    try:
        pid = int(request.POST.get("pid", ""))
    except ValueError:
        messages.error(request, "No query was cancelled: the session id is not a number.")
        return back
    if request.POST.get("confirm") != "yes":
        messages.error(request, f"No query was cancelled: tick the box to confirm pid {pid}.")
        return back
    try:
        done = db_health.cancel_query(DEFAULT_DB_ALIAS, pid)
    except (CannotRun, DatabaseError) as exc:
        messages.error(request, f"Could not cancel pid {pid}: {redact.mask_exception(exc)}")
        return back
    redact.logger.warning(
        "dashboard: %s cancelled the query of pid %s (%s)",
        request.user.get_username(),
        pid,
        "accepted" if done else "no such session",
    )
    if done:
        messages.success(request, f"Cancel request sent to pid {pid}.")
    else:
        messages.warning(request, f"pid {pid} is not a session of this database any more.")
    return back


@never_cache
@staff_required
def history_page(request: HttpRequest) -> HttpResponse:
    chosen = request.GET.get("range", "24h")
    if chosen not in RANGES:
        chosen = "24h"
    since = timezone.now() - RANGES[chosen]
    try:
        series = history.charts(DEFAULT_DB_ALIAS, since)
        error = ""
    except DatabaseError as exc:
        series, error = [], redact.mask_exception(exc)
    drawn = [
        {
            "title": s.title,
            "svg": charts.line_chart(s.title, s.unit, s.points, chart_id=f"chart-{i}"),
            "last": charts.human(s.points[-1][1], s.unit),
        }
        for i, s in enumerate(series)
    ]
    ranges = [{"name": r, "current": r == chosen} for r in RANGES]
    return _page(
        request, "history", {"charts": drawn, "ranges": ranges, "chosen": chosen, "error": error}
    )
