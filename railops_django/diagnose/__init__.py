"""railway_diagnose: find why the deployed app answers 500/400/502, and what to fix first.

Probes are grouped by area (environment, settings, database, static, application, resources)
and run by ``runner.run_probes``: a probe that crashes becomes one finding and hides nothing
else; probes that need the database are skipped when it cannot be reached, so an unreachable
database costs one connect timeout, never a hang.

It runs whatever state Django is in: Django's system checks run inside it, one by one
(``checks``), never before it; the project's code failing while a check or a probe loads it
(the URLconf, a middleware, a template) is one critical finding ranked first (``project``),
however many probes met it.

Public entry points:

- ``run(alias, urls, skip_requests) -> Report``: the whole diagnosis;
- ``static_probes() -> list[Finding]``: the probes that do no I/O (also Django system checks,
  tag ``railway``, deploy only);
- ``environment_findings() -> list[Finding]``: required variables and references;
- ``edge.replay(path, host)``: one request as Railway's edge sends it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from ..report import Finding, Report, Severity
from . import application, checks, database, environment, project, resources, static, templates
from . import settings as settings_probes
from .environment import environment_findings
from .runner import Context, Probe, run_probes

__all__ = ["environment_findings", "probes", "run", "static_probes"]


def _pooler() -> list[Finding]:
    disabled = any(
        db.get("DISABLE_SERVER_SIDE_CURSORS") for db in getattr(settings, "DATABASES", {}).values()
    )
    return environment.pooler(disable_server_side_cursors=disabled)


def static_probes() -> list[Finding]:
    """Every probe that does no I/O: environment, settings, and static configuration."""
    return [
        *environment_findings(),
        *_pooler(),
        *settings_probes.debug(),
        *settings_probes.secret_key(),
        *settings_probes.allowed_hosts(),
        *settings_probes.csrf_trusted_origins(),
        *settings_probes.ssl_proxy(),
        *settings_probes.cors(),
        *static.static_root(),
        *static.whitenoise(),
    ]


def _static(func: object) -> Probe:
    return Probe("settings", getattr(func, "__name__", "probe"), lambda ctx: func())  # type: ignore[operator]


def probes() -> list[Probe]:
    """Every probe, in the order it runs; database-dependent ones after the connect probe."""
    return [
        Probe("environment", "environment", lambda ctx: environment_findings()),
        Probe("environment", "pooler", lambda ctx: _pooler()),
        Probe("environment", "database_target", lambda ctx: environment.database_target(ctx.alias)),
        _static(settings_probes.debug),
        _static(settings_probes.secret_key),
        _static(settings_probes.allowed_hosts),
        _static(settings_probes.csrf_trusted_origins),
        _static(settings_probes.ssl_proxy),
        _static(settings_probes.cors),
        Probe("settings", "django_checks", lambda ctx: checks.django_check_findings()),
        Probe("static", "static_root", lambda ctx: static.static_root()),
        Probe("static", "whitenoise", lambda ctx: static.whitenoise()),
        Probe("static", "manifest", static.manifest, timeout=5.0),
        Probe("application", "template_syntax", templates.template_syntax, timeout=5.0),
        Probe("static", "backup_dir_in_git", lambda ctx: static.backup_dir_in_git(), timeout=5.0),
        Probe("database", "connect", database.connect, timeout=5.0),
        Probe("database", "migrations", database.migrations, timeout=5.0, needs_database=True),
        Probe("database", "schema_drift", database.schema_drift, timeout=5.0, needs_database=True),
        Probe(
            "database",
            "post_migrate_data",
            database.post_migrate_data,
            timeout=5.0,
            needs_database=True,
        ),
        Probe(
            "database",
            "connection_budget",
            database.connection_budget,
            timeout=5.0,
            needs_database=True,
        ),
        Probe("application", "start_command", application.start_command, timeout=1.0),
        Probe("application", "wsgi_import", application.wsgi_import, timeout=30.0),
        Probe(
            "application", "edge_replay", application.edge_replay, timeout=30.0, needs_database=True
        ),
        Probe("resources", "memory", resources.memory, timeout=1.0),
    ]


def run(alias: str = "default", urls: Iterable[str] = (), skip_requests: bool = False) -> Report:
    """The full diagnosis of database ``alias``; replays ``/``, the healthcheck and ``urls``."""
    report = Report("railway_diagnose")
    ctx = Context(alias=alias, urls=tuple(urls), skip_requests=skip_requests)
    ctx.facts["wsgi_import"] = application.WsgiImport()  # runs while the other probes do
    findings, timings = run_probes(probes(), ctx)
    report.extend(checks.merge_reexpressed(project.merge_duplicates(findings)))
    if ctx.database_ok is False:
        report.add(
            "diagnose.database.skipped",
            Severity.INFO,
            "Migrations, schema drift and the edge replay were skipped: no database connection",
            fix="Fix the connection first (see above), then run railway_diagnose again.",
            rank=99,
        )
    if "edge_replay" in ctx.facts:
        report.extras["edge_replay"] = ctx.facts["edge_replay"]
    if "resources" in ctx.facts:
        report.extras["resources"] = ctx.facts["resources"]
    skipped = [t["probe"] for t in timings if t["ran"] == "skipped"]
    if skipped:
        report.extras["skipped_probes"] = skipped
    return report.finish()
