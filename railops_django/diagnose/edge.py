"""Edge replay: send a request through the full middleware stack the way Railway's edge does.

In-process, with ``DEBUG`` off as in production, ``Host`` = the public domain and the headers
Railway's proxy adds (``X-Forwarded-Proto: https``, ``X-Forwarded-Host``, ``X-Forwarded-For``).
Nothing changes: the request runs inside a transaction that is rolled back, and e-mail goes to
Django's in-memory backend, so ADMINS receive nothing.
"""

from __future__ import annotations

import logging
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.http.request import validate_host
from django.test import Client, override_settings

from .. import platform, redact
from ..db import schema
from ..redact import logger
from ..report import Finding, Severity

EDGE_CLIENT_IP = "203.0.113.10"  # TEST-NET-3: never a real client
REPLAY_STATEMENT_TIMEOUT = 10.0
_RAILOPS_DIR = str(Path(__file__).resolve().parent.parent)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def default_host() -> str:
    """The public domain, else the first concrete ALLOWED_HOSTS entry, else localhost."""
    domain = platform.railway().public_domain
    if domain:
        return domain
    for host in settings.ALLOWED_HOSTS:
        if host and host != "*" and not host.startswith("."):
            return str(host)
    return "localhost"


def _project_frame(tb: Any) -> str:
    """``file:line in func`` of the innermost frame in the project's own code."""
    frames = traceback.extract_tb(tb)
    own = [f for f in frames if _is_project_file(f.filename)]
    frame = (own or frames)[-1] if frames else None
    if frame is None:
        return ""
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def _is_project_file(filename: str) -> bool:
    prefixes = tuple({sys.prefix, sys.base_prefix, _RAILOPS_DIR})
    return "site-packages" not in filename and not filename.startswith(prefixes)


def _finding_id(path: str, healthcheck: bool) -> str:
    if healthcheck:
        return "diagnose.edge.healthcheck"
    return "diagnose.edge.root" if path == "/" else "diagnose.edge.url"


def replay(
    path: str,
    host: str | None = None,
    *,
    alias: str = "default",
    healthcheck: bool = False,
    method: str = "GET",
    timeout: float = REPLAY_STATEMENT_TIMEOUT,
) -> Finding:
    """Replay ``GET path`` as Railway's edge (or, with ``healthcheck``, its healthcheck) sends it.

    ``method="POST"`` sends an empty form with the browser's ``Origin`` header (no CSRF token),
    to show what a form POST meets. Every SQL statement is bounded by ``timeout`` seconds.

    Returns one finding: info for a healthy answer, warning/critical with the cause otherwise.
    ``data`` holds ``path``, ``host``, ``status`` and ``cause``.
    """
    host = host or default_host()
    if not path.startswith("/"):
        path = "/" + path
    headers = {"host": host}
    if not healthcheck:
        # Railway's healthcheck calls the container directly over HTTP; the edge adds these.
        headers.update(
            {
                "x-forwarded-proto": "https",
                "x-forwarded-host": host,
                "x-forwarded-for": EDGE_CLIENT_IP,
                "x-real-ip": EDGE_CLIENT_IP,
            }
        )
    records = _Records()
    watched = [logging.getLogger(n) for n in ("django.request", "django.security")]
    for lg in watched:
        lg.addHandler(records)
    had_outbox = hasattr(mail, "outbox")
    saved_outbox = list(getattr(mail, "outbox", []))
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            override_settings(
                DEBUG=False,
                EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            ),
            transaction.atomic(using=alias),
        ):
            with schema.statement_timeout(alias, timeout):
                if method.upper() == "POST":
                    origin = ("http://" if healthcheck else "https://") + host
                    response = client.post(path, {}, headers={**headers, "origin": origin})
                else:
                    response = client.get(path, headers=headers)
            transaction.set_rollback(True, using=alias)
    finally:
        for lg in watched:
            lg.removeHandler(records)
        if had_outbox:
            mail.outbox = saved_outbox
        elif hasattr(mail, "outbox"):
            del mail.outbox
    for warning in caught:
        logger.debug("edge replay of %s: %s", path, warning.message)
    return _interpret(path, host, healthcheck, response, records.records)


def _interpret(
    path: str, host: str, healthcheck: bool, response: Any, records: list[logging.LogRecord]
) -> Finding:
    status = int(response.status_code)
    who = f"Railway's healthcheck (Host {host})" if healthcheck else f"the edge (Host {host})"
    data: dict[str, Any] = {"path": path, "host": host, "status": status, "cause": ""}
    fid = _finding_id(path, healthcheck)
    title = f"{response.request['REQUEST_METHOD']} {path} from {who} answers {status}"

    def result(severity: Severity, cause: str, detail: str, fix: str, rank: int) -> Finding:
        data["cause"] = cause
        return Finding(fid, severity, title, redact.mask_text(detail), fix, rank, data)

    if status < 300:
        return result(Severity.INFO, "", "", "", 90)
    if status < 400:
        location = response.get("Location", "")
        data["location"] = location
        target = urlsplit(location)
        requested = urlsplit(f"https://{host}{path}")
        if (
            target.netloc in ("", host)
            and target.path == path
            and (target.scheme in ("", "https") and not healthcheck)
        ):
            return result(
                Severity.CRITICAL,
                "redirect_loop",
                f"It redirects to {location}, the very URL the edge asked for "
                f"({requested.geturl()}): the browser loops until 'too many redirects'.",
                "Set SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https') so Django "
                "sees that the edge already used https.",
                4,
            )
        if healthcheck:
            return result(
                Severity.CRITICAL,
                "redirect",
                f"It redirects to {location}; Railway's healthcheck needs a 200, so the "
                "deploy never goes live.",
                f"Exempt the path from SECURE_SSL_REDIRECT (SECURE_REDIRECT_EXEMPT = "
                f"[r'^{path.strip('/')}/?$']) and from any login redirect.",
                7,
            )
        return result(Severity.INFO, "redirect", f"Redirects to {location}.", "", 90)
    messages = [redact.mask_text(r.getMessage()) for r in records]
    if status == 400 and not validate_host(host.split(":")[0], list(settings.ALLOWED_HOSTS)):
        return result(
            Severity.CRITICAL,
            "DisallowedHost",
            f"Invalid HTTP_HOST header: {host!r} is not in ALLOWED_HOSTS="
            f"{list(settings.ALLOWED_HOSTS)!r}.",
            f"Add {host!r} to ALLOWED_HOSTS.",
            5,
        )
    csrf = [m for m in messages if "CSRF" in m]
    if status == 403 and csrf:
        return result(
            Severity.CRITICAL,
            "csrf",
            csrf[0],
            f"Add 'https://{host}' to CSRF_TRUSTED_ORIGINS.",
            8,
        )
    exc_info = getattr(response, "exc_info", None)
    if status >= 500 and exc_info:
        exc = exc_info[1]
        where = _project_frame(exc_info[2])
        data["exception"] = type(exc).__name__
        data["where"] = where
        in_project = bool(where) and _is_project_file(where.rsplit(":", 1)[0])
        fix = (
            f"Fix the code at {where}, or what the exception names"
            if in_project
            else "Django raised this itself, in no code of yours: fix what the exception names "
            "(usually a setting or a variable)"
        )
        return result(
            Severity.CRITICAL,
            type(exc).__name__,
            f"{redact.mask_exception(exc)}\nraised at {where}",
            f"{fix} (run the other probes' fixes first: a missing column or manifest entry "
            "shows up here as the 500).",
            15,
        )
    if status >= 500:
        return result(
            Severity.CRITICAL,
            "server_error",
            " / ".join(messages) or "The response is a server error without an exception.",
            "Read the service's deploy logs for this request.",
            15,
        )
    important = healthcheck or path != "/" or status not in (401, 403, 404, 405)
    return result(
        Severity.CRITICAL if healthcheck else (Severity.WARNING if important else Severity.INFO),
        f"http_{status}",
        " / ".join(messages) or f"The app answers {status}.",
        "Make the healthcheck path answer 200 without login."
        if healthcheck
        else "Check the URL pattern and the view's permissions.",
        7 if healthcheck else 50,
    )
