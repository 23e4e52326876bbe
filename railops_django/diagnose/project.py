"""Failures of the project's own code while it loads: where they happened, as one finding.

Django loads a project in pieces: the settings, the apps, then lazily the URLconf (first
request or the URL system checks), the middleware (first request, or the WSGI handler), views
and templates. A failure in any of them is the cause of a 500 or a crashed deploy, so wherever
railway_diagnose meets one (a system check, a probe) it becomes the same critical finding,
ranked first: what failed to load, the file:line of the innermost frame in the project's own
code, and the masked exception. The same failure met by several probes is reported once.

No Django import at module level: ``python -m railops_django diagnose`` uses this before
(or without) ``django.setup()``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import traceback
from pathlib import Path
from typing import Any

from .. import redact
from ..report import Finding, Severity

_RAILOPS_DIR = str(Path(__file__).resolve().parent.parent)
# Where Django is when it loads each kind of project module (function names in its frames).
_KINDS = (
    ("urlconf", ("urlconf_module", "url_patterns")),
    ("middleware", ("load_middleware",)),
    ("template", ("get_template", "select_template", "from_string", "compile_nodelist")),
)
_TITLES = {
    "urlconf": "The URLconf does not load",
    "middleware": "A MIDDLEWARE entry does not load",
    "template": "A template does not load",
    "project": "The project's code fails while Django loads it",
}
_FIXES = {
    "urlconf": "Fix {where}: every request resolves URLs through it, so every page answers 500 "
    "(and 'manage.py check' fails). A missing module is usually a package missing from "
    "requirements.txt, or an app module renamed.",
    "middleware": "Fix the MIDDLEWARE entry ({where}): the handler loads it before any request, "
    "so every request answers 500 and gunicorn's workers cannot serve. Remove it, or add the "
    "package that provides it to requirements.txt.",
    "template": "Fix the template at {where}: every page that renders it answers 500.",
    "project": "Fix {where}: it fails while Django loads the project, so the pages that need it "
    "answer 500. Read variables with a default (env('X', default=...)) and do no network I/O "
    "at import.",
}


def _is_project_file(filename: str) -> bool:
    prefixes = tuple({sys.prefix, sys.base_prefix, _RAILOPS_DIR})
    return not (
        "site-packages" in filename
        or "dist-packages" in filename
        or filename.startswith(prefixes)
        or filename.startswith("<")
    )


def project_frame(exc: BaseException) -> str:
    """``file:line`` of the innermost frame in the project's own code (or of the last frame).

    A ``SyntaxError`` (template syntax errors too) names its own place; an import failure
    with no project frame at all (a MIDDLEWARE string) points at the settings line naming it.
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    template = getattr(exc, "template_debug", None)
    if isinstance(template, dict) and template.get("name"):
        return f"{template['name']}:{template.get('line', '?')}"
    frames = traceback.extract_tb(exc.__traceback__)
    script = str(Path(sys.argv[0]).resolve()) if sys.argv and sys.argv[0] else ""
    own = [
        f
        for f in frames
        if _is_project_file(f.filename) and str(Path(f.filename).resolve()) != script
    ]
    if own:
        return f"{own[-1].filename}:{own[-1].lineno}"
    named = settings_line(_missing_name(exc))
    if named:
        return named
    own = [f for f in frames if _is_project_file(f.filename)]  # only manage.py itself
    if own:
        return f"{own[-1].filename}:{own[-1].lineno}"
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def _missing_name(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return exc.name
    match = re.search(r"['\"]([\w.]+)['\"]", str(exc))
    return match.group(1) if match else ""


def settings_line(name: str) -> str:
    """``file:line`` of the settings line that names ``name`` (a dotted path), else ''."""
    if not name:
        return ""
    try:
        from django.conf import settings

        module = sys.modules.get(settings.SETTINGS_MODULE or "")
    except Exception:
        return ""
    filename = getattr(module, "__file__", None)
    if not filename:
        return ""
    try:
        lines = Path(filename).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for number, line in enumerate(lines, 1):
        if re.search(rf"['\"]{re.escape(name)}[.'\"]", line):
            return f"{filename}:{number}"
    return ""


def kind(exc: BaseException) -> str:
    """What was loading: urlconf, middleware, template, or project (anything else)."""
    names = {f.name for f in traceback.extract_tb(exc.__traceback__)}
    for label, functions in _KINDS:
        if names.intersection(functions):
            return label
    if type(exc).__name__ == "TemplateSyntaxError":
        return "template"
    return "project"


def loads_project(exc: BaseException) -> bool:
    """True when ``exc`` broke out of the project's code while it loaded, not out of railops.

    Import-time failures (ImportError, SyntaxError, ImproperlyConfigured, a module body that
    raises) and template syntax errors; a bug in railops itself stays a probe crash.
    """
    if isinstance(exc, ImportError | SyntaxError):
        return True
    if type(exc).__name__ in ("ImproperlyConfigured", "TemplateSyntaxError"):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f.name == "<module>" and _is_project_file(f.filename) for f in frames)


def _traceback_tail(exc: BaseException, lines: int = 8) -> list[str]:
    text = redact.mask_traceback(exc).strip().splitlines()
    return [line for line in text if "<frozen " not in line][-lines:]


def load_failure(exc: BaseException, during: str) -> Finding:
    """The critical finding for ``exc``, met while ``during`` (a check or probe name) ran."""
    where = project_frame(exc)
    label = kind(exc)
    message = redact.mask_exception(exc)
    return Finding(
        id=f"diagnose.app.{label}_import" if label != "project" else "diagnose.app.load_failed",
        severity=Severity.CRITICAL,
        title=f"{_TITLES[label]}: {message[:160]} ({where})",
        detail=f"{message}\nat {where} (met while {during} ran)\n"
        + "\n".join(_traceback_tail(exc)),
        fix=_FIXES[label].format(where=where),
        rank=0,
        data={
            "where": where,
            "exception": type(exc).__name__,
            "message": message,
            "during": [during],
        },
    )


def merge_duplicates(findings: list[Finding]) -> list[Finding]:
    """One finding per load failure: the same exception at the same place, met by several
    checks or probes, is kept once, with every place it was met in ``data['during']``.

    The WSGI import (a fresh process, as gunicorn starts) that dies of the same exception is
    folded in too: it says the workers crash at boot, not a second cause.
    """
    out: list[Finding] = []
    first: dict[tuple[str, Any, Any], int] = {}
    by_message: dict[str, int] = {}
    for finding in findings:
        during = finding.data.get("during")
        if not isinstance(during, list):
            out.append(finding)
            continue
        key = (finding.id, finding.data.get("where"), finding.title)
        if key not in first:
            first[key] = len(out)
            by_message.setdefault(str(finding.data.get("message", "")), len(out))
            out.append(finding)
            continue
        out[first[key]] = _met_in(out[first[key]], during)
    folded: set[int] = set()
    for number, finding in enumerate(out):
        index = by_message.get(str(finding.data.get("error", "")))
        if finding.id == "diagnose.app.wsgi_import" and index is not None:
            out[index] = _met_in(out[index], ["the WSGI import (gunicorn's workers die at boot)"])
            folded.add(number)
    return [f for number, f in enumerate(out) if number not in folded]


def _met_in(finding: Finding, during: list[str]) -> Finding:
    seen = [*finding.data["during"], *(d for d in during if d not in finding.data["during"])]
    return dataclasses.replace(finding, data={**finding.data, "during": seen})
