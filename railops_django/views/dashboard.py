"""The staff dashboard at ``railops/``: the overview page.

Anonymous users are sent to the admin login; signed-in users who are not staff get 403. The
page renders Reports the commands build (the health gate, ``backup report``,
``railway_deploy --history``), masked by ``render`` before they reach the template.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render as render_template
from django.views.decorators.cache import never_cache

from .. import deploy, render
from ..backup import overview as backup_overview
from ..health import gate
from ..report import Report
from .access import staff_required


def _masked(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render.as_json(report))
    return data


def _section(title: str, build: Any) -> dict[str, Any]:
    """One report for the page; a section that cannot be built says why, and hides nothing else."""
    try:
        return {"title": title, "report": _masked(build()), "error": ""}
    except Exception as exc:  # a broken backup folder must not take the page down
        from ..redact import mask_exception

        return {"title": title, "report": None, "error": mask_exception(exc)}


@never_cache
@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    alias = DEFAULT_DB_ALIAS
    sections = [
        _section("Health", lambda: gate.run(alias)),
        _section("Releases", lambda: deploy.history(alias, limit=10)),
        _section("Backups", lambda: backup_overview.report(alias)),
    ]
    return render_template(
        request,
        "railops/overview.html",
        {"title": "railops", "sections": sections, "has_permission": True},
    )
