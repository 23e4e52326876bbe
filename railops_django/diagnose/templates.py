"""Template syntax: every project template compiled as Django would, before a request hits it.

A template with a syntax error (an unclosed tag, an unknown tag library) compiles only when a
view renders it, so ``check`` passes and the page answers 500 in production. This compiles each
template of the project (DIRS and app directories outside site-packages) with each Django
template engine and reports the file:line of each error. No rendering: no view code runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import redact
from ..report import Finding, Severity
from .runner import Context
from .static import MAX_TEMPLATE_FILES, TEMPLATE_SUFFIXES, project_template_dirs

MAX_FINDINGS = 10


def _compile_error(engine: Any, path: Path, name: str) -> tuple[Exception, int] | None:
    from django.template import TemplateSyntaxError
    from django.template.base import Origin, Template

    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        Template(source, origin=Origin(str(path), name), name=name, engine=engine)
    except TemplateSyntaxError as exc:
        token = getattr(exc, "token", None)
        return exc, int(getattr(token, "lineno", 0) or 0)
    return None


def template_syntax(ctx: Context) -> list[Finding]:
    from django.template import engines
    from django.template.backends.django import DjangoTemplates

    findings: list[Finding] = []
    django_engines = [e.engine for e in engines.all() if isinstance(e, DjangoTemplates)]
    files = 0
    for directory in project_template_dirs():
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path.suffix not in TEMPLATE_SUFFIXES:
                continue
            files += 1
            if files > MAX_TEMPLATE_FILES or len(findings) >= MAX_FINDINGS:
                return findings
            name = path.relative_to(directory).as_posix()
            for engine in django_engines:
                error = _compile_error(engine, path, name)
                if error is None:
                    continue
                exc, line = error
                where = f"{path}:{line}" if line else str(path)
                findings.append(
                    Finding(
                        id="diagnose.app.template_syntax",
                        severity=Severity.CRITICAL,
                        title=f"Template {name} does not compile: {str(exc)[:140]} ({where})",
                        detail=f"{redact.mask_exception(exc)}\nat {where}: every view that "
                        "renders it answers 500 (check passes: templates compile only when used).",
                        fix=f"Fix the tag at {where} (an unclosed or misspelt tag, or a "
                        "{% load %} of a library whose app is not in INSTALLED_APPS).",
                        rank=1,
                        data={"template": name, "where": where},
                    )
                )
                break
    return findings
