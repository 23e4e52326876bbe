"""Secret masking. Every byte railops writes (stdout, stderr, files, logs, webhooks) passes here.

Two layers, so that neither has to be perfect alone:

1. *Known secrets*: the literal values of passwords in ``DATABASES``, ``SECRET_KEY``, settings
   and environment variables whose names look secret, and passwords inside any URL found in
   the environment. Each is masked wherever it appears, raw or percent-encoded.
2. *Shapes*: ``scheme://user:password@host`` in any scheme, secret-looking query parameters
   (``?password=``, ``?sslpassword=``, ``?token=``...) and ``NAME=value`` pairs whose name
   looks secret.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
import warnings
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "********"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|PWD|TOKEN|KEY|CREDENTIAL|PRIVATE|DSN", re.I)
# Names that match SECRET_NAME but hold no secret.
NOT_SECRET_NAMES = frozenset(
    {"PWD", "OLDPWD", "KEY_PREFIX", "DEFAULT_AUTO_FIELD", "SECRET_KEY_FALLBACKS_COUNT"}
)
MIN_SECRET_LEN = 4

_URL_USERINFO = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"<>]*:)(?P<pw>[^\s'\"<>]*)@"
)
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;](?:[\w.\-]*(?:secret|password|passwd|pwd|token|key|credential|private|dsn"
    r"|signature|sig)[\w.\-]*)=)(?P<value>[^&\s#'\"<>]*)",
    re.I,
)
_ASSIGNMENT = re.compile(
    r"(?P<head>\b[\w.\-]*(?:SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|SECRET_?KEY|ACCESS_?KEY"
    r"|PRIVATE_?KEY|CREDENTIALS?|DSN)[\w.\-]*(?:\s*=\s*|['\"]\s*:\s*)['\"]?)"
    r"(?P<value>[^\s'\",;&}]+)",
    re.I,
)

_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` everywhere from now on (for secrets learnt at run time)."""
    if value and len(value) >= MIN_SECRET_LEN:
        _registered.add(value)


def is_secret_name(name: str) -> bool:
    return name.upper() not in NOT_SECRET_NAMES and bool(SECRET_NAME.search(name))


def _url_password(value: str) -> str | None:
    if "://" not in value:
        return None
    try:
        parts = urlsplit(value.strip())
        password = parts.password
    except ValueError:
        return None
    return unquote(password) if password else None


def _settings_secrets() -> Iterable[str]:
    from django.conf import settings

    if not settings.configured:
        return
    for db in getattr(settings, "DATABASES", {}).values():
        yield str(db.get("PASSWORD") or "")
        options = db.get("OPTIONS") or {}
        for key, value in options.items():
            if is_secret_name(str(key)) and isinstance(value, str):
                yield value
    yield str(getattr(settings, "SECRET_KEY", "") or "")
    yield from (str(v) for v in getattr(settings, "SECRET_KEY_FALLBACKS", []) or [])
    railops = getattr(settings, "RAILOPS", None)
    if isinstance(railops, Mapping):
        webhook = railops.get("ALERT_WEBHOOK_URL")
        if isinstance(webhook, str):
            yield from _webhook_secret_parts(webhook)
    for name in dir(settings):
        if name.isupper() and is_secret_name(name):
            with warnings.catch_warnings():  # reading a deprecated setting is not using it
                warnings.simplefilter("ignore")
                value = getattr(settings, name, None)
            if isinstance(value, str):
                yield value


def _webhook_secret_parts(url: str) -> Iterable[str]:
    """A webhook URL is a credential: its path and query carry the token."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.path and len(parts.path) > 1:
        yield parts.path.lstrip("/")
    if parts.query:
        yield parts.query


def known_secrets() -> list[str]:
    """Every secret value we can know of, longest first (so overlaps mask whole)."""
    found: set[str] = set(_registered)
    for name, value in os.environ.items():
        if not value:
            continue
        if is_secret_name(name) and len(value) >= MIN_SECRET_LEN:
            found.add(value)
        if name.upper().endswith("WEBHOOK_URL"):  # the URL itself is the credential
            found.update(_webhook_secret_parts(value))
        password = _url_password(value)
        if password:
            found.add(password)
    try:
        for value in _settings_secrets():
            if value:
                found.add(value)
                password = _url_password(value)
                if password:
                    found.add(password)
    except Exception:  # settings that fail to import still leave the env layer working
        logging.getLogger("railops").debug("settings unavailable for masking", exc_info=False)
    variants: set[str] = set()
    for secret in found:
        if len(secret) < MIN_SECRET_LEN:
            continue
        variants.update({secret, quote(secret, safe=""), quote_plus(secret), quote(secret)})
    return sorted(variants, key=len, reverse=True)


def mask_text(text: str, secrets: list[str] | None = None) -> str:
    """Mask every known secret and every secret-shaped fragment in ``text``."""
    if not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _QUERY_SECRET.sub(lambda m: m.group("head") + _masked(m.group("value")), text)
    return _ASSIGNMENT.sub(lambda m: m.group("head") + _masked(m.group("value")), text)


def _masked(value: str) -> str:
    return MASK if value else value


def _mask_userinfo(match: re.Match[str]) -> str:
    return match.group("head") + _masked(match.group("pw")) + "@"


def mask_url(url: str) -> str:
    """Mask the password of a URL of any scheme, keeping user, host, port and path."""
    return mask_text(url)


def mask_value(value: Any, secrets: list[str] | None = None) -> Any:
    """Mask strings inside any JSON-like structure; values under secret-looking keys vanish."""
    if secrets is None:
        secrets = known_secrets()
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, bytes):
        return mask_text(value.decode("utf-8", "replace"), secrets)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_name(key) and isinstance(item, str | bytes):
                out[key] = _masked(str(item))
            else:
                out[key] = mask_value(item, secrets)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(item, secrets) for item in value]
    return value


def mask_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return dict(mask_value(mapping))


def mask_exception(exc: BaseException) -> str:
    """``Type: message`` with secrets masked; one line."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {mask_text(message)}" if message else type(exc).__name__


def mask_traceback(exc: BaseException) -> str:
    return mask_text("".join(traceback.format_exception(exc)))


def mask_process_output(output: bytes | str | None) -> str:
    """Subprocess stdout/stderr, decoded and masked."""
    if output is None:
        return ""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    return mask_text(output)


class RedactingFilter(logging.Filter):
    """Masks a record's message and traceback before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_traceback(record.exc_info[1])
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


# The operators' log. Every module logs through this one logger, so the filter sees every record
# (filters on a logger do not run for records of its children).
logger = logging.getLogger("railops")
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())
# Silent unless the project configures logging: without a handler, Python's last-resort handler
# would print every warning record bare on stderr, where Railway shows it as an error.
if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
    logger.addHandler(logging.NullHandler())
