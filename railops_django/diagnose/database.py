"""Database probes: connect (with a timeout), latency, migrations, drift, post_migrate data."""

from __future__ import annotations

from collections import defaultdict

from django.apps import apps
from django.conf import settings
from django.db import connections, router
from django.db.migrations.executor import MigrationExecutor

from .. import conf
from ..db import connection as dbconn
from ..db import schema
from ..report import Finding, Severity
from . import deploy_config
from .runner import Context


def connect(ctx: Context) -> list[Finding]:
    result = dbconn.probe(ctx.alias)
    ctx.database_ok = result.ok
    if not result.ok:
        assert result.error is not None
        return [dbconn.failure_finding(ctx.alias, result.error, "diagnose.database", rank=0)]
    ctx.facts["latency_ms"] = result.latency_ms
    warn, crit = conf.threshold("latency_ms")
    latency = result.latency_ms or 0.0
    severity = Severity.INFO
    if latency >= crit:
        severity = Severity.CRITICAL
    elif latency >= warn:
        severity = Severity.WARNING
    return [
        Finding(
            id="diagnose.database.latency",
            severity=severity,
            title=f"Database {ctx.alias!r} answers SELECT 1 in {latency:g} ms",
            detail=f"{connections[ctx.alias].vendor}; thresholds {warn:g}/{crit:g} ms.",
            fix="High latency: use the private *.railway.internal URL and put the app and "
            "the database in the same region."
            if severity > Severity.INFO
            else "",
            rank=60,
            data={"latency_ms": latency, "warning": warn, "critical": crit},
        )
    ]


def migrations(ctx: Context) -> list[Finding]:
    connection = connections[ctx.alias]
    executor = MigrationExecutor(connection)
    loader = executor.loader
    findings: list[Finding] = []
    conflicts = loader.detect_conflicts()
    for app_label, names in sorted(conflicts.items()):
        findings.append(
            Finding(
                id="diagnose.migrations.conflict",
                severity=Severity.CRITICAL,
                title=f"App {app_label!r} has conflicting migrations (several leaves)",
                detail="Leaf migrations: " + ", ".join(sorted(names)) + ". migrate refuses "
                "to run until they are merged.",
                fix=f"python manage.py makemigrations --merge {app_label}, commit, redeploy.",
                rank=9,
                data={"app": app_label, "leaves": sorted(names)},
            )
        )
    if conflicts:
        ctx.facts["pending_apps"] = set(conflicts)
        return findings
    plan = executor.migration_plan(loader.graph.leaf_nodes())
    pending: dict[str, list[str]] = defaultdict(list)
    for migration, backwards in plan:
        if not backwards:
            pending[migration.app_label].append(migration.name)
    ctx.facts["pending_apps"] = set(pending)
    for app_label, names in sorted(pending.items()):
        findings.append(
            Finding(
                id="diagnose.migrations.pending",
                severity=Severity.CRITICAL,
                title=f"{len(names)} migration(s) of {app_label!r} not applied",
                detail="Not applied: " + ", ".join(names) + ". Code that uses the new "
                "tables or columns fails with a 500.",
                fix="Run 'python manage.py migrate' (on Railway: the pre-deploy command "
                "'python manage.py railway_deploy' or 'python manage.py migrate').",
                rank=9,
                data={"app": app_label, "migrations": names},
            )
        )
    return findings


def _checked_apps(ctx: Context) -> list[str]:
    pending = ctx.facts.get("pending_apps", set())
    return [a.label for a in apps.get_app_configs() if a.label not in pending]


def schema_drift(ctx: Context) -> list[Finding]:
    return schema.drift(ctx.alias, _checked_apps(ctx))


def post_migrate_data(ctx: Context) -> list[Finding]:
    """Content types and permissions that post_migrate creates; missing when it never ran."""
    if not apps.is_installed("django.contrib.contenttypes"):
        return []
    from django.contrib.contenttypes.models import ContentType

    connection = connections[ctx.alias]
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    if ContentType._meta.db_table not in tables:
        return []  # reported as drift or pending migrations
    labels = set(_checked_apps(ctx))
    models = [
        m
        for m in apps.get_models()
        if m._meta.app_label in labels and router.allow_migrate_model(ctx.alias, m)
    ]
    have = set(ContentType.objects.using(ctx.alias).values_list("app_label", "model"))
    missing_ct = sorted(
        f"{m._meta.app_label}.{m._meta.model_name}"
        for m in models
        if (m._meta.app_label, m._meta.model_name) not in have
    )
    missing_perms: list[str] = []
    if apps.is_installed("django.contrib.auth"):
        from django.contrib.auth.models import Permission

        if Permission._meta.db_table in tables:
            perms = set(
                Permission.objects.using(ctx.alias).values_list(
                    "content_type__app_label", "codename"
                )
            )
            for m in models:
                meta = m._meta
                codenames = [f"{a}_{meta.model_name}" for a in meta.default_permissions]
                codenames += [codename for codename, _ in meta.permissions]
                missing_perms += [
                    f"{meta.app_label}.{c}" for c in codenames if (meta.app_label, c) not in perms
                ]
    if not missing_ct and not missing_perms:
        return []
    detail = []
    if missing_ct:
        detail.append("Content types missing: " + ", ".join(missing_ct[:10]))
    if missing_perms:
        detail.append(
            f"Permissions missing ({len(missing_perms)}): " + ", ".join(sorted(missing_perms)[:10])
        )
    return [
        Finding(
            id="diagnose.database.post_migrate",
            severity=Severity.WARNING,
            title="Content types or permissions are missing: post_migrate never ran here",
            detail="; ".join(detail) + ". The admin hides those models from staff users and "
            "generic relations fail.",
            fix="Run 'python manage.py migrate' (it recreates them; it does nothing else "
            "when every migration is applied).",
            rank=40,
            data={"content_types": missing_ct, "permissions": sorted(missing_perms)},
        )
    ]


def connection_budget(ctx: Context) -> list[Finding]:
    """Web workers x threads per replica against the server's max_connections (PostgreSQL)."""
    findings: list[Finding] = []
    db = connections[ctx.alias].settings_dict
    max_age = db.get("CONN_MAX_AGE", 0)
    if max_age != 0 and not db.get("CONN_HEALTH_CHECKS"):
        findings.append(
            Finding(
                id="diagnose.database.conn_health_checks",
                severity=Severity.WARNING,
                title=f"CONN_MAX_AGE={max_age} without CONN_HEALTH_CHECKS",
                detail="Persistent connections are reused without a check: after the database "
                "restarts or a proxy drops an idle connection, the next request on each "
                "worker fails with 'server closed the connection unexpectedly' (a 500).",
                fix=f"Set DATABASES[{ctx.alias!r}]['CONN_HEALTH_CHECKS'] = True.",
                rank=45,
            )
        )
    limit = schema.connection_limit(ctx.alias)
    if limit is None:
        return findings
    max_connections, reserved = limit
    base_dir = getattr(settings, "BASE_DIR", None)
    start = deploy_config.read(base_dir).start_command
    concurrency = deploy_config.gunicorn_concurrency(start, base_dir=base_dir)
    per_replica = concurrency["workers"] * concurrency["threads"]
    usable = max(max_connections - reserved, 1)
    fits = usable // max(per_replica, 1)
    pct = round(per_replica * 100 / usable, 1)
    warn, _ = conf.threshold("connections_pct")
    data = {
        **concurrency,
        "per_replica": per_replica,
        "max_connections": max_connections,
        "reserved": reserved,
        "replicas_that_fit": fits,
        "conn_max_age": max_age,
    }
    ctx.facts["connection_budget"] = data
    detail = (
        f"{concurrency['workers']} workers x {concurrency['threads']} threads "
        f"({concurrency['source']}) hold up to {per_replica} connections per replica "
        f"(CONN_MAX_AGE={max_age}); the server allows {usable} ({max_connections} "
        f"max_connections - {reserved} reserved), so about {fits} replicas fit, fewer "
        "with cron services, backups and shells connected too."
    )
    if per_replica > usable:
        severity, rank = Severity.CRITICAL, 6
    elif pct >= warn:
        severity, rank = Severity.WARNING, 35
    else:
        severity, rank = Severity.INFO, 70
    findings.append(
        Finding(
            id="diagnose.database.connection_budget",
            severity=severity,
            title=f"One replica can open {per_replica} of {usable} database connections ({pct:g}%)",
            detail=detail,
            fix=""
            if severity is Severity.INFO
            else "Lower WEB_CONCURRENCY or --threads, or put a pooler (PgBouncer) in front "
            "and set DISABLE_SERVER_SIDE_CURSORS = True.",
            rank=rank,
            data=data,
        )
    )
    return findings
