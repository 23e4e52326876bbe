"""Django's system checks (``check --deploy``) folded into the report, and ours registered back.

This is the one way railway_diagnose runs Django's checks. The command itself declares
``requires_system_checks = []``: Django's own run would stop it at the first error, and the
errors (a CSRF origin without a scheme, a broken URLconf) are exactly what it must report.
Instead every registered check, deploy checks included, runs here one by one, each guarded:

- every message becomes a finding ``django.<id>`` (ERROR/CRITICAL -> critical, WARNING ->
  warning, INFO/DEBUG -> info), its hint the fix;
- a check that raises while it loads the project (the URLconf imports a missing module)
  becomes the load-failure finding of ``project.load_failure``, ranked first; any other crash
  of one check is a warning, and the other checks still run.

A few Django messages are re-expressed by our probes with Railway context (production or not,
the exact variable to set): such a probe's finding names the Django id in
``data["reexpresses"]``, and ``merge_reexpressed`` keeps one finding per problem, under the
Django id, with the probe's title and fix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.core import checks

from .. import redact
from ..redact import logger
from ..report import Finding, Severity
from . import project

TAG = "railway"


def _severity(level: int) -> Severity:
    if level >= checks.ERROR:
        return Severity.CRITICAL
    if level >= checks.WARNING:
        return Severity.WARNING
    return Severity.INFO


def _check_name(check: Any) -> str:
    return str(getattr(check, "__qualname__", None) or getattr(check, "__name__", "check"))


def _run_check(check: Any) -> tuple[list[checks.CheckMessage], Finding | None]:
    name = _check_name(check)
    try:
        return list(check(app_configs=None, databases=None)), None
    except Exception as exc:
        logger.debug("system check %s raised", name, exc_info=True)
        if project.loads_project(exc):
            return [], project.load_failure(exc, during=f"system check {name}")
        return [], Finding(
            id="diagnose.check_crashed",
            severity=Severity.WARNING,
            title=f"The system check {name} raised; its messages are missing",
            detail=redact.mask_exception(exc),
            fix="The other checks still ran. Run 'python manage.py check --deploy' to see its "
            "traceback.",
            rank=90,
            data={"check": name},
        )


def message_finding(message: checks.CheckMessage) -> Finding:
    obj = f"{message.obj}: " if message.obj is not None else ""
    return Finding(
        id=f"django.{message.id or 'check'}",
        severity=_severity(message.level),
        title=f"{obj}{message.msg}".split("\n")[0][:200],
        detail=f"{obj}{message.msg}",
        fix=message.hint or "See https://docs.djangoproject.com/en/stable/ref/checks/ for this id.",
        rank=15 if message.level >= checks.ERROR else 55,
        data={"check_id": message.id},
    )


def django_check_findings() -> list[Finding]:
    """Everything ``manage.py check --deploy`` reports, as findings (ids ``django.<id>``).

    Never raises: each check is guarded (see the module docstring).
    """
    silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", []))
    findings: list[Finding] = []
    for check in checks.registry.registry.get_checks(include_deployment_checks=True):
        if TAG in getattr(check, "tags", ()):
            continue  # our own probes; the report already has them
        messages, failure = _run_check(check)
        if failure is not None:
            findings.append(failure)
        for message in messages:
            if message.id in silenced or message.is_silenced():
                continue
            findings.append(message_finding(message))
    return project.merge_duplicates(findings)


def merge_reexpressed(findings: list[Finding]) -> list[Finding]:
    """One finding per problem where a probe re-expresses a Django check message.

    The probe's finding (Railway context, a precise fix) takes the Django id ``django.<id>``
    and replaces the folded message; a probe finding whose Django message is absent keeps
    its own id, and a Django message no probe re-expressed stays as it is.
    """
    folded = {
        f.data.get("check_id"): f
        for f in findings
        if f.id.startswith("django.") and f.data.get("check_id")
    }
    used: set[int] = set()
    out: list[Finding] = []
    for finding in findings:
        check_id = finding.data.get("reexpresses")
        message = folded.get(check_id) if check_id else None
        if message is None:
            out.append(finding)
            continue
        used.add(id(message))
        out.append(
            dataclasses.replace(
                finding,
                id=message.id,
                data={**finding.data, "check_id": check_id, "probe": finding.id},
            )
        )
    return [f for f in out if id(f) not in used]


def railway_system_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The no-I/O probes as Django system checks (``manage.py check --deploy`` shows them)."""
    from . import static_probes

    out: list[checks.CheckMessage] = []
    for finding in static_probes():
        if finding.severity < Severity.WARNING or _django_says_it(finding):
            continue
        cls = checks.Error if finding.severity is Severity.CRITICAL else checks.Warning
        out.append(cls(finding.title, hint=finding.fix, id=finding.id))
    return out


def _django_says_it(finding: Finding) -> bool:
    """True when the Django message this finding re-expresses is as severe: 'check' shows it.

    A probe that is more severe than Django (a weak SECRET_KEY in production is an error,
    Django's W009 a warning) still adds its own message.
    """
    check_id = str(finding.data.get("reexpresses") or "")
    if not check_id:
        return False
    django_severity = Severity.CRITICAL if ".E" in check_id else Severity.WARNING
    return finding.severity <= django_severity
