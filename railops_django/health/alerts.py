"""``--alert``: post findings at or above ALERT_MIN_SEVERITY to a Slack/Discord webhook.

The body is JSON with a ``text`` field (Slack, Discord's /slack endpoint) and ``content``
(Discord), plus structured fields. It is masked before it leaves, the post has a timeout and a
bounded retry, and the webhook URL (a credential) never appears in output or logs.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from .. import conf, platform, redact
from ..redact import logger
from ..report import Finding, Report, Severity

TIMEOUT_S = 5.0
RETRIES = 2  # after the first attempt
BACKOFF_S = 0.5
TEXT_LIMIT = 1900  # Discord refuses content over 2000 characters


def webhook_url() -> str:
    return str(conf.get("ALERT_WEBHOOK_URL") or "")


def _register_url_secrets(url: str) -> None:
    parts = urlsplit(url)
    redact.register_secret(parts.path.lstrip("/") if len(parts.path) > 1 else None)
    redact.register_secret(parts.query or None)
    redact.register_secret(parts.password)


def alertable(report: Report, min_severity: Severity) -> list[Finding]:
    return [f for f in report.sorted_findings() if f.severity >= min_severity]


def payload(report: Report, findings: list[Finding]) -> dict[str, Any]:
    """The webhook body, masked."""
    where = platform.railway()
    place = " / ".join(p for p in (where.service_name, where.environment_name) if p)
    head = f"{report.command}: {report.status.label.upper()}" + (f" on {place}" if place else "")
    lines = [head]
    for f in findings:
        line = f"• [{f.severity.label.upper()}] {f.title}"
        if f.fix:
            line += f"\n    fix: {f.fix}"
        lines.append(line)
    text = "\n".join(lines)
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    body = {
        "text": text,
        "content": text,
        "command": report.command,
        "status": report.status.label,
        "service": where.service_name,
        "environment": where.environment_name,
        "deployment_id": where.deployment_id,
        "findings": [
            {
                "id": f.id,
                "severity": f.severity.label,
                "title": f.title,
                "detail": f.detail,
                "fix": f.fix,
                "value": f.data.get("value"),
                "threshold": f.data.get("threshold"),
                "unit": f.data.get("unit"),
            }
            for f in findings
        ],
    }
    masked: dict[str, Any] = redact.mask_value(body)
    return masked


def post(
    report: Report,
    url: str | None = None,
    min_severity: Severity | str | None = None,
    timeout: float = TIMEOUT_S,
    retries: int = RETRIES,
    backoff: float = BACKOFF_S,
) -> Finding:
    """Post the alertable findings of ``report``; a finding that says what happened."""
    url = webhook_url() if url is None else url
    threshold = Severity.parse(min_severity or conf.get("ALERT_MIN_SEVERITY"))
    findings = alertable(report, threshold)
    if not findings:
        return Finding(
            "health.alert.nothing",
            Severity.OK,
            f"Alert: nothing at or above {threshold.label} to send",
            rank=99,
        )
    _register_url_secrets(url)
    host = urlsplit(url).hostname or "?"
    data = json.dumps(payload(report, findings), ensure_ascii=False).encode()  # masked values
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked by _check_scheme)
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "railops-django"},
    )
    _check_scheme(url)
    last = ""
    attempts = 0
    for attempt in range(retries + 1):
        attempts = attempt + 1
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status = response.status
            logger.info("db_health alert posted to %s (HTTP %s)", host, status)
            return Finding(
                "health.alert.sent",
                Severity.OK,
                f"Alert sent to {host}: {len(findings)} finding(s) at or above {threshold.label}",
                rank=99,
                data={"host": host, "http_status": status, "attempts": attempts},
            )
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last = redact.mask_text(f"{type(reason).__name__}: {reason}")
        if attempt < retries:
            time.sleep(backoff * (2**attempt))
    logger.warning("db_health alert to %s failed after %d attempt(s): %s", host, attempts, last)
    return Finding(
        "health.alert.failed",
        Severity.WARNING,
        f"Alert could not be delivered to {host} ({last})",
        detail=f"{attempts} attempt(s), {timeout:g} s timeout each.",
        fix="Check RAILOPS ALERT_WEBHOOK_URL (the webhook may have been revoked) and that this "
        "service can reach it.",
        rank=90,
        data={"host": host, "attempts": attempts},
    )


def _check_scheme(url: str) -> None:
    from ..report import CannotRun

    if urlsplit(url).scheme not in ("http", "https"):
        raise CannotRun(
            "ALERT_WEBHOOK_URL must be an http(s) URL: set RAILOPS_ALERT_WEBHOOK_URL="
            "https://hooks.slack.com/services/…"
        )
