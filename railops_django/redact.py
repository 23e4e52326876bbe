"""Secret masking. Every byte railops writes (stdout, stderr, files, logs, webhooks) passes here.

Masking works on **values, before serialisation**: a report, a manifest or an alert payload is
masked as data (:func:`mask_value`) and only then turned into JSON or text, so the serialiser's
quotes, brackets and escapes are never touched. Only the characters of a secret are replaced;
everything around it stays as it was.

What counts as a secret:

1. *Known secrets*: the literal values of passwords in ``DATABASES``, ``SECRET_KEY``, settings
   and environment variables whose names look secret, the token parts of webhook URLs, the
   passwords inside any URL found in the environment or the settings, and values registered at
   run time. Each is masked wherever it appears, raw or percent-encoded, in any string: a value,
   a dict key, a migration name, a path.
2. *Shapes* inside a value: the password of ``scheme://user:password@host`` in any scheme, and
   secret-looking query parameters (``?password=``, ``?sslpassword=``, ``?token=``...).

Names are never secrets: a key such as ``"wagtailcore.0098_apitoken"`` or ``"PASSWORD"`` is
kept, and so is the value under it unless it is (or holds) a secret as above.

Free text that was never data (subprocess stderr, exception messages, log records) also gets one
more shape, ``NAME=value`` or ``NAME = "value"`` where the name looks secret (``PGPASSWORD=x``,
``password='x'``, ``"SECRET_KEY": "x"``). That shape masks a bare value that stops at any quote,
bracket, backslash or separator, or the inside of a quoted literal, never the quotes themselves.
Tracebacks are masked frame by frame: a source line keeps its code (``os.environ["API_KEY"]``
stays as it is) and only secret values and secret literals in it are masked.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "********"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|PWD|TOKEN|KEY|CREDENTIAL|PRIVATE|DSN", re.I)
# Names that match SECRET_NAME but hold no secret.
NOT_SECRET_NAMES = frozenset(
    {
        "PWD",
        "OLDPWD",
        "KEY_PREFIX",
        "KEY_FUNCTION",
        "DEFAULT_AUTO_FIELD",
        "SECRET_KEY_FALLBACKS_COUNT",
    }
)
# Values that a secret-named variable may hold but that are flags, not secrets: masking them
# would blank every "True" in the output.
NOT_SECRET_VALUES = frozenset({"true", "false", "none", "null"})
MIN_SECRET_LEN = 4

# ``scheme://user:password@host``: as urlsplit reads it, the userinfo ends at the last ``@``
# before the host, and the host part ends at ``/``, ``?`` or ``#``.
# A URL password holds no character RFC 3986 keeps out of userinfo (brackets, braces, quotes,
# backslash, whitespace): one that does is not a URL password, and its text is left whole.
_URL_USERINFO = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/?#@'\"<>\\\[\]]*:)(?P<pw>[^\s/?#'\"<>\\\[\]{}]*)@"
)
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;](?:[\w.\-]*(?:secret|password|passwd|pwd|token|key|credential|private|dsn"
    r"|signature|sig)[\w.\-]*)=)(?P<value>[^&;\s#'\"<>\\\[\]{}()]*)",
    re.I,
)
_SENSITIVE_NAME = (
    r"(?:SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|SECRET_?KEY|ACCESS_?KEY|PRIVATE_?KEY"
    r"|CREDENTIALS?|DSN)"
)
# ``NAME = "literal"``, ``NAME: 'literal'``, ``"NAME": "literal"``: the inside of the literal.
_QUOTED_ASSIGNMENT = re.compile(
    rf"\b[\w.\-]*{_SENSITIVE_NAME}[\w.\-]*['\"]?\s*[=:]\s*(?P<q>['\"])(?P<value>[^'\"\\\n]+)(?P=q)",
    re.I,
)
# ``NAME=value`` (shell, libpq conninfo): the value up to any quote, bracket, backslash or
# separator. Free text only: in source code the right-hand side is an expression.
_BARE_ASSIGNMENT = re.compile(
    rf"\b[\w.\-]*{_SENSITIVE_NAME}[\w.\-]*=(?P<value>[^\s'\"\\\[\](){{}}<>,;&|`]+)",
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
        for key, value in railops.items():  # HEALTH_TOKEN, and any secret-named key to come
            if is_secret_name(str(key)) and isinstance(value, str):
                yield value
    for name in dir(settings):
        if not name.isupper():
            continue
        with warnings.catch_warnings():  # reading a deprecated setting is not using it
            warnings.simplefilter("ignore")
            value = getattr(settings, name, None)
        if isinstance(value, str):
            if is_secret_name(name):
                yield value
            elif "://" in value:
                yield from filter(None, [_url_password(value)])
        elif isinstance(value, Mapping | list | tuple):
            yield from _nested_secrets(value)


def _nested_secrets(value: Any, depth: int = 0) -> Iterator[str]:
    """Inside a dict or list setting (STORAGES, CACHES, CELERY...): strings under secret-looking
    keys (``OPTIONS["secret_key"]``) and URL passwords (``LOCATION: redis://:pw@host``)."""
    if depth > 5:
        return
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    for key, item in list(items)[:200]:
        if isinstance(item, str):
            if isinstance(key, str) and is_secret_name(key):
                yield item
            elif "://" in item:
                yield from filter(None, [_url_password(item)])
        elif isinstance(item, Mapping | list | tuple):
            yield from _nested_secrets(item, depth + 1)


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


def _is_maskable(secret: str) -> bool:
    return (
        len(secret) >= MIN_SECRET_LEN
        and bool(secret.strip())
        and secret not in MASK  # "****" would mask the mask
        and secret.lower() not in NOT_SECRET_VALUES
    )


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
        if _is_maskable(secret):
            variants.update({secret, quote(secret, safe=""), quote_plus(secret), quote(secret)})
    return sorted(variants, key=len, reverse=True)


def _masked(value: str) -> str:
    return MASK if value else value


def _mask_group(match: re.Match[str], group: str) -> str:
    """The whole match, with only ``group`` (the secret) replaced."""
    start, end = match.span(group)
    offset = match.start()
    whole = match.group(0)
    return whole[: start - offset] + _masked(match.group(group)) + whole[end - offset :]


def _mask_userinfo(match: re.Match[str]) -> str:
    return match.group("head") + _masked(match.group("pw")) + "@"


def mask_string(text: str, secrets: list[str] | None = None) -> str:
    """Mask one string value (or key): known secrets, URL passwords, query-string secrets.

    Only the characters of a secret change, so a key, a name or a path that holds none comes
    back exactly as it was.
    """
    if not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_USERINFO.sub(_mask_userinfo, text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: _mask_group(m, "value"), text)
    return text


def _mask_code(line: str, secrets: list[str]) -> str:
    """A traceback frame (file, line, source): values only, never the code's structure."""
    line = mask_string(line, secrets)
    return _QUOTED_ASSIGNMENT.sub(lambda m: _mask_group(m, "value"), line)


def mask_text(text: str, secrets: list[str] | None = None) -> str:
    """Mask free text (stderr, exception messages, log lines): :func:`mask_string` plus the
    ``NAME=value`` shapes. Quotes, brackets and backslashes are never part of what is masked."""
    if not text:
        return text
    text = mask_string(text, known_secrets() if secrets is None else secrets)
    text = _QUOTED_ASSIGNMENT.sub(lambda m: _mask_group(m, "value"), text)
    return _BARE_ASSIGNMENT.sub(lambda m: _mask_group(m, "value"), text)


def mask_url(url: str) -> str:
    """Mask the password of a URL of any scheme, keeping user, host, port and path."""
    return mask_text(url)


def _mask_key(key: Any, secrets: list[str]) -> str | int | float | bool | None:
    if isinstance(key, str):
        return mask_string(key, secrets)
    if key is None or isinstance(key, int | float):  # bool is an int; json writes them all
        return key
    return mask_string(str(key), secrets)


def mask_value(value: Any, secrets: list[str] | None = None) -> Any:
    """A masked copy of any JSON-like structure, made only of JSON types.

    Every string, key included, goes through :func:`mask_string`; tuples and sets become lists;
    any other object (a path, a date, a Decimal) becomes its masked ``str()``, so a serialiser
    never has to stringify (and so never leaks) anything itself. Keys are names and are never
    taken for secrets: the value under ``"PASSWORD"`` is masked because it is a known secret,
    not because of its key.
    """
    if secrets is None:
        secrets = known_secrets()
    if isinstance(value, str):
        return mask_string(value, secrets)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes):
        return mask_string(value.decode("utf-8", "replace"), secrets)
    if isinstance(value, Mapping):
        return {_mask_key(key, secrets): mask_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(item, secrets) for item in value]
    return mask_string(str(value), secrets)


def mask_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return dict(mask_value(mapping))


def mask_exception(exc: BaseException) -> str:
    """``Type: message`` with secrets masked; one line."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {mask_text(message)}" if message else type(exc).__name__


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_MAX_CHAIN = 50  # chained exceptions shown; TracebackException already breaks cycles
_MAX_GROUP = 15  # sub-exceptions shown per exception group (as the traceback module does)


def mask_traceback(exc: BaseException) -> str:
    """The traceback as Python prints it, masked frame by frame.

    Each frame (file, line, function, source line) is masked as code: secret values and secret
    literals go, the code stays. The exception's message is masked as free text.
    """
    secrets = known_secrets()
    return "".join(_traceback_lines(traceback.TracebackException.from_exception(exc), secrets, 0))


def _traceback_lines(
    top: traceback.TracebackException, secrets: list[str], depth: int
) -> Iterator[str]:
    chain: list[tuple[str, traceback.TracebackException]] = [("", top)]
    current = top
    while len(chain) < _MAX_CHAIN:
        if current.__cause__ is not None:
            link, current = _CAUSE, current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link, current = _CONTEXT, current.__context__
        else:
            break
        chain.append((link, current))
    for link, item in reversed(chain):  # the oldest first, as Python prints it
        if item.stack:
            yield "Traceback (most recent call last):\n"
            for frame in item.stack.format():
                yield _mask_code(frame, secrets)
        for line in item.format_exception_only():
            yield mask_text(line, secrets)
        group: list[traceback.TracebackException] = getattr(item, "exceptions", None) or []
        if depth < 3:
            for number, sub in enumerate(group[:_MAX_GROUP], 1):
                yield f"+---------------- {number} ----------------\n"
                for text in _traceback_lines(sub, secrets, depth + 1):
                    yield "".join(f"| {line}\n" for line in text.splitlines())
        yield link


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
