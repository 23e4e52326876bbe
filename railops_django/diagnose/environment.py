"""Environment and platform probes: required variables, unresolved references, Railway networking.

These read only ``os.environ`` (never Django settings), so they also run when the settings
module fails to import, and railway_deploy reuses them before it touches anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from .. import platform
from ..db import target
from ..report import Finding, Severity

REQUIRED = ("SECRET_KEY", "DATABASE_URL")
# Railway's TCP proxy hosts (public networking: billed egress, extra latency).
PUBLIC_PROXY_SUFFIXES = (".proxy.rlwy.net", ".railway.app", ".rlwy.net")


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def required_variables(environ: Mapping[str, str] | None = None) -> list[Finding]:
    env = os.environ if environ is None else environ
    on_railway = platform.railway(env).on_railway
    findings: list[Finding] = []
    for name in REQUIRED:
        if name not in env:
            if on_railway:
                findings.append(
                    Finding(
                        id=f"diagnose.env.missing.{name.lower()}",
                        severity=Severity.CRITICAL,
                        title=f"{name} is not set in this Railway service",
                        detail="The settings fall back to a local default: "
                        + (
                            "a public, checked-in key."
                            if name == "SECRET_KEY"
                            else "SQLite on the container's disk, wiped at every deploy."
                        ),
                        fix=(
                            "In Railway > Variables add SECRET_KEY (e.g. ${{secret(64)}})."
                            if name == "SECRET_KEY"
                            else "In Railway > Variables add "
                            "DATABASE_URL=${{Postgres.DATABASE_URL}}."
                        ),
                        rank=3,
                        data={"variable": name},
                    )
                )
            else:
                findings.append(
                    Finding(
                        id=f"diagnose.env.missing.{name.lower()}",
                        severity=Severity.INFO,
                        title=f"{name} is not set here; the settings' local default is used",
                        fix=f"On Railway, set {name} in the service's Variables.",
                        rank=80,
                        data={"variable": name},
                    )
                )
        elif env[name].strip() == "":
            findings.append(
                Finding(
                    id=f"diagnose.env.empty.{name.lower()}",
                    severity=Severity.CRITICAL,
                    title=f"{name} is set but empty",
                    detail="An empty variable usually means a reference that resolved to nothing.",
                    fix=f"Give {name} a value in Railway > Variables (or unset it locally).",
                    rank=2,
                    data={"variable": name},
                )
            )
    return findings


def unresolved_references(environ: Mapping[str, str] | None = None) -> list[Finding]:
    env = os.environ if environ is None else environ
    return [
        Finding(
            id="diagnose.env.unresolved_reference",
            severity=Severity.CRITICAL,
            title=f"{name} still holds an unresolved Railway reference",
            detail=f"{name} contains '${{{{...}}}}' literally: the referenced service or "
            "variable does not exist in this environment, so Railway left the text as is.",
            fix=f"Fix the reference in Railway > Variables > {name}: the service name is "
            "case-sensitive, e.g. ${{Postgres.DATABASE_URL}}; then redeploy.",
            rank=1,
            data={"variable": name},
        )
        for name, value in sorted(env.items())
        if "${{" in value
    ]


def railway_networking(environ: Mapping[str, str] | None = None) -> list[Finding]:
    env = os.environ if environ is None else environ
    railway = platform.railway(env)
    findings: list[Finding] = []
    if not railway.on_railway:
        return findings
    host = _host(env.get("DATABASE_URL", ""))
    if host.endswith(PUBLIC_PROXY_SUFFIXES) and railway.private_domain:
        findings.append(
            Finding(
                id="diagnose.env.database_public_proxy",
                severity=Severity.WARNING,
                title="DATABASE_URL goes through Railway's public proxy",
                detail=f"Host {host} is the public TCP proxy, while private networking is "
                f"available ({railway.private_domain}): every query pays egress and latency.",
                fix="Set DATABASE_URL=${{Postgres.DATABASE_URL}} (the private "
                "*.railway.internal URL) instead of DATABASE_PUBLIC_URL.",
                rank=40,
                data={"host": host},
            )
        )
    return findings


def database_target(
    alias: str = "default", environ: Mapping[str, str] | None = None
) -> list[Finding]:
    """DATABASE_URL is set but ``DATABASES[alias]`` is another database (this one reads settings).

    An unresolved ``${{...}}`` is left to ``unresolved_references``, which already says so.
    """
    found = target.mismatch(alias, environ)
    if found is None or found.unresolved:
        return []
    return [
        Finding(
            id="diagnose.env.database_mismatch",
            severity=Severity.CRITICAL,
            title=f"The settings ignore {found.variable}: the app uses another database",
            detail=f"{found.problem}. Every query, migration and backup goes to the database "
            "in DATABASES, not the one the environment names.",
            fix=found.fix[0].upper() + found.fix[1:] + ". Data-changing railops commands refuse "
            f"to run on Railway until then (override for one run: {target.OVERRIDE}=1).",
            rank=2,
            data={
                "variable": found.variable,
                "alias": alias,
                "named": found.named.describe() if found.named else None,
                "configured": found.configured.describe(),
            },
        )
    ]


def pooler(
    environ: Mapping[str, str] | None = None, disable_server_side_cursors: bool = False
) -> list[Finding]:
    env = os.environ if environ is None else environ
    if "DATABASE_UNPOOLED_URL" in env and not disable_server_side_cursors:
        return [
            Finding(
                id="diagnose.env.pooler_server_side_cursors",
                severity=Severity.WARNING,
                title="A connection pooler is in use but server-side cursors are on",
                detail="DATABASE_UNPOOLED_URL is present, so DATABASE_URL goes through a "
                "transaction pooler (PgBouncer); .iterator() querysets then fail with "
                "'cursor does not exist'.",
                fix="Set DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'] = True.",
                rank=35,
            )
        ]
    return []


def environment_findings(environ: Mapping[str, str] | None = None) -> list[Finding]:
    """The required-variables probes (no Django settings needed; railway_deploy reuses them)."""
    return [
        *unresolved_references(environ),
        *required_variables(environ),
        *railway_networking(environ),
    ]
