"""Django's system checks (``check --deploy``) folded into the report, and ours registered back.

Folding runs Django's own registry, so nothing Django checks is re-implemented. A few Django
messages are re-expressed by our probes with Railway context (production or not, the exact
variable to set); those ids are dropped from the fold so each problem appears once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from ..report import Finding, Severity

TAG = "railway"
# Django ids our own probes report with more context.
REEXPRESSED = frozenset({"security.W018", "security.W009", "4_0.E001"})


def _severity(level: int) -> Severity:
    if level >= checks.ERROR:
        return Severity.CRITICAL
    if level >= checks.WARNING:
        return Severity.WARNING
    return Severity.INFO


def django_check_findings() -> list[Finding]:
    """Everything ``manage.py check --deploy`` reports, as findings (ids ``django.<id>``)."""
    silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", []))
    messages: list[checks.CheckMessage] = []
    for check in checks.registry.registry.get_checks(include_deployment_checks=True):
        if TAG in getattr(check, "tags", ()):
            continue  # our own probes; the report already has them
        messages.extend(check(app_configs=None, databases=None))
    findings = []
    for message in messages:
        if message.id in silenced or message.id in REEXPRESSED or message.is_silenced():
            continue
        obj = f"{message.obj}: " if message.obj is not None else ""
        findings.append(
            Finding(
                id=f"django.{message.id or 'check'}",
                severity=_severity(message.level),
                title=f"{obj}{message.msg}".split("\n")[0][:200],
                detail=f"{obj}{message.msg}",
                fix=message.hint
                or "See https://docs.djangoproject.com/en/stable/ref/checks/ for this id.",
                rank=15 if message.level >= checks.ERROR else 55,
                data={"check_id": message.id},
            )
        )
    return findings


def railway_system_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The no-I/O probes as Django system checks (``manage.py check --deploy`` shows them)."""
    from . import static_probes

    out: list[checks.CheckMessage] = []
    for finding in static_probes():
        if finding.severity < Severity.WARNING:
            continue
        cls = checks.Error if finding.severity is Severity.CRITICAL else checks.Warning
        out.append(cls(finding.title, hint=finding.fix, id=finding.id))
    return out
