"""Create a backup: dump -> zstd (multi-threaded) -> sha256 -> every storage; manifest last.

A backup is ``<name>.<engine suffix>.zst`` plus ``<name>.json``. The manifest is written after
the dump is complete in every storage: it is the commit marker, and a dump without one is an
incomplete leftover that ``cleanup`` removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, cast

import django
import zstandard
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from .. import conf, platform, redact
from ..db import backup_engine, vendor
from ..db.identity import identity
from ..redact import logger
from ..report import CannotRun, Finding, Report, Severity
from . import claims, columns, storage
from .storage import Place, StorageError

FORMAT = "railops-backup/1"
SCHEDULED_TIERS = ("daily", "weekly", "monthly")
SPECIAL_TIERS = ("emergency", "predeploy", "manual")
TIERS = (*SCHEDULED_TIERS, *SPECIAL_TIERS)
STAMP = "%Y%m%dT%H%M%SZ"


class BackupFailed(Exception):
    """The backup could not be completed; nothing was listed as good. The message is masked."""


def failed_finding(exc: BackupFailed, retry: str, what: str = "backup") -> Finding:
    """The one critical finding of a backup that failed: why, and the command to run again."""
    return Finding(
        "backup.failed",
        Severity.CRITICAL,
        f"the {what} failed; no new backup was recorded",
        str(exc),
        f"Fix the cause above and run '{retry}' again.",
        rank=0,
    )


@dataclass
class BackupResult:
    name: str
    manifest: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    storages: list[str] = field(default_factory=list)


def scheduled_tier(when: datetime) -> str:
    """monthly on the 1st, weekly on Sundays, daily otherwise (UTC)."""
    if when.day == 1:
        return "monthly"
    if when.weekday() == 6:
        return "weekly"
    return "daily"


def check_tier(tier: str) -> str:
    if tier == "auto":
        return scheduled_tier(datetime.now(UTC))
    if tier not in TIERS:
        raise CannotRun(f"unknown backup tier {tier!r}: use one of {', '.join(TIERS)} or auto")
    return tier


def manifest_name(name: str) -> str:
    return f"{name}.json"


def dump_name(name: str, suffix: str) -> str:
    return f"{name}.{suffix}.zst"


def migration_state(alias: str) -> dict[str, list[str]]:
    """app -> applied migrations, from django_migrations."""
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return {}
    state: dict[str, list[str]] = {}
    for app, name in sorted(recorder.applied_migrations()):
        state.setdefault(app, []).append(name)
    return state


def code_migrations() -> dict[str, list[str]]:
    """app -> the migrations ``migrate`` records for the code on disk.

    A squashed migration in the graph stands for the ones it replaces, and ``migrate`` records
    both (wagtail, for one, ships ``0001_squashed_0016_...`` next to ``0001_initial``...), so
    they count as the code's too.
    """
    loader = MigrationLoader(None, ignore_no_migrations=True)
    keys = set(loader.graph.nodes)
    for key, migration in loader.replacements.items():
        if key in keys:
            keys.update(migration.replaces)
    state: dict[str, list[str]] = {}
    for app, name in sorted(keys):
        state.setdefault(app, []).append(name)
    return state


def squashed_migrations() -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
    """Each squashed migration on disk -> the migrations it replaces."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {key: frozenset(m.replaces) for key, m in loader.replacements.items()}


def _provenance() -> dict[str, str]:
    facts = platform.railway()
    commit = (
        facts.git_commit or os.environ.get("SOURCE_COMMIT", "") or os.environ.get("GIT_SHA", "")
    )
    return {"git_commit": commit, "railway_deployment_id": facts.deployment_id}


class _HashingSink:
    """Where zstd writes: hashed, counted, passed to the first storage's file."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.bytes += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        return None


def _staging(places: list[Place], filename: str) -> tuple[Any, Callable[[], IO[bytes]]]:
    """The first local place's atomic file, or a private temp file when all are remote."""
    local = next((p for p in places if p.on_this_machine), None)
    if local is not None:
        atomic = storage.AtomicFile(local, filename)
        path = atomic.path
        return atomic, lambda: open(path, "rb")
    temp = tempfile.TemporaryFile()  # noqa: SIM115 (closed by abort or after the copies)

    class _Temp:
        place = None

        def write(self, data: bytes) -> int:
            return temp.write(data)

        def commit(self) -> None:
            temp.flush()

        def abort(self) -> None:
            temp.close()

    return _Temp(), lambda: temp


def compression_params(level: int) -> zstandard.ZstdCompressionParameters:
    """zstd with up to 2 worker threads (by the container's CPU quota, not the host's) and
    2 MiB jobs, which bound the compressor's memory: 12 MB less peak RSS than 4 MiB jobs on
    the backup benchmark, for an archive within 0.1 % of the size."""
    workers = max(1, min(2, int(platform.resources().cpu_limit_cores)))
    return zstandard.ZstdCompressionParameters.from_level(
        level, threads=workers, job_size=2 << 20, write_checksum=1
    )


def create(
    alias: str = "default",
    tier: str = "manual",
    *,
    schema_only: bool = False,
    allow_partial: bool = False,
    progress: Callable[[int], None] | None = None,
    safety_for: str | None = None,
) -> BackupResult:
    """Dump ``alias`` into every configured storage; raise BackupFailed if any part fails.

    ``safety_for`` marks the safety copy of a state about to be replaced (by a restore, a
    recovery): what replaces it, in words. ``restore --latest`` passes such backups by.
    """
    tier = check_tier(tier)
    places = storage.configured()
    engine = backup_engine.for_alias(alias)
    facts = engine.preflight(alias)
    try:
        for place in places:
            storage.check_writable(place)
    except StorageError as exc:
        raise BackupFailed(redact.mask_text(str(exc))) from exc
    with claims.backup_lock(alias) as locked:
        if not locked:
            raise claims.lock_refusal(alias, claims.WAIT_S)
        swept = claims.sweep_dead(places)  # what a killed create left
        if swept:
            logger.info("removed the claims of killed runs: %s", ", ".join(swept))
        started = datetime.now(UTC)
        try:
            claim = claims.claim(alias, started, tier, places, STAMP)
        except StorageError as exc:
            raise BackupFailed(redact.mask_text(str(exc))) from exc
        try:
            return _create_claimed(
                alias,
                tier,
                claim.name,
                started,
                places,
                engine,
                facts,
                schema_only=schema_only,
                allow_partial=allow_partial,
                progress=progress,
                safety_for=safety_for,
            )
        finally:
            claim.release()


def _create_claimed(
    alias: str,
    tier: str,
    name: str,
    started: datetime,
    places: list[Place],
    engine: Any,
    facts: dict[str, Any],
    *,
    schema_only: bool,
    allow_partial: bool,
    progress: Callable[[int], None] | None,
    safety_for: str | None = None,
) -> BackupResult:
    clock = time.monotonic()
    database = identity(alias)
    filename = dump_name(name, engine.SUFFIX)
    level = conf.get("BACKUP_COMPRESSION_LEVEL")
    use_columns = engine.ROW_FRAMING is not None and conf.get("BACKUP_LAYOUT") == "columns"
    written: list[Place] = []
    staged, reopen = _staging(places, filename)
    try:
        migrations = migration_state(alias)
        raw_bytes = 0
        with engine.open_dump(
            alias, schema_only, conf.get("BACKUP_EXACT_COUNT_LIMIT"), allow_partial=allow_partial
        ) as dump:

            def raw() -> Iterator[bytes]:
                nonlocal raw_bytes
                for chunk in dump.chunks:
                    raw_bytes += len(chunk)
                    if progress is not None:
                        progress(raw_bytes)
                    yield chunk

            pieces = columns.encode(raw(), engine.ROW_FRAMING or "plain") if use_columns else raw()
            sink = _HashingSink(staged)
            cctx = zstandard.ZstdCompressor(compression_params=compression_params(level))
            with cctx.stream_writer(cast(IO[bytes], sink), closefd=False) as compressor:
                for piece in pieces:
                    compressor.write(piece)
            tables = dump.tables
            engine_facts = dump.facts
        staged.commit()
        staged_place = getattr(staged, "place", None)
        if staged_place is not None:
            written.append(staged_place)
        with reopen() as source:
            for place in places:
                if place not in written:
                    storage.save_file(place, filename, source)
                    written.append(place)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "alias": alias,
            "vendor": vendor(alias),
            "database": database,
            "tier": tier,
            **({"safety_for": safety_for} if safety_for else {}),
            "created_at": started.isoformat(),
            "duration_s": round(time.monotonic() - clock, 3),
            "engine": engine.NAME,
            **{k: v for k, v in facts.items() if k.endswith("_version")},
            **(
                {"engine_reason": engine_facts["engine_reason"]}
                if "engine_reason" in engine_facts
                else {}
            ),
            **({"engine_info": engine_facts["info"]} if "info" in engine_facts else {}),
            "django_version": django.get_version(),
            "schema_only": schema_only,
            "dump": {
                "file": filename,
                "compression": "zstd",
                "level": level,
                "layout": columns.NAME if use_columns else "plain",
                "raw_bytes": raw_bytes,
                "bytes": sink.bytes,
                "sha256": sink.sha.hexdigest(),
            },
            "tables": tables,
            "migrations": migrations,
            **_provenance(),
            "storages": [p.label for p in places],
            "verification": None,
        }
        body = json.dumps(redact.mask_value(manifest), indent=2, sort_keys=True).encode()
        for place in places:  # the commit marker, last
            storage.save_bytes(place, manifest_name(name), body)
    except (backup_engine.EngineError, StorageError, OSError, zstandard.ZstdError) as exc:
        _discard(staged, written, filename)
        message = redact.mask_text(str(exc))
        logger.error("backup %s failed: %s", name, message)
        raise BackupFailed(f"backup {name} failed: {message}") from exc
    except BaseException:
        _discard(staged, written, filename)
        raise
    logger.info("backup %s written to %s", name, ", ".join(p.label for p in places))
    return BackupResult(
        name, manifest, _create_findings(name, manifest, places), manifest["storages"]
    )


def blockers(alias: str, tier: str) -> list[Finding]:
    """What would stop ``create`` before it dumps (a storage it cannot write), for the dry
    runs of the commands that back up first (safe_migrate, railway_deploy)."""
    checked = dry_run(alias, tier, Report("backup create"))
    return [f for f in checked.findings if f.severity >= Severity.CRITICAL]


def dry_run(alias: str, tier: str, report: Report) -> Report:
    """Every check ``create`` makes before dumping, and what it would do."""
    tier = check_tier(tier)
    places = storage.configured()
    engine = backup_engine.for_alias(alias)
    facts = engine.preflight(alias)
    for place in places:
        try:
            storage.check_writable(place, create=False)  # a dry run creates no directory
        except StorageError as exc:
            report.add(
                "backup.storage_unwritable",
                Severity.CRITICAL,
                f"storage {place.label} cannot be written",
                redact.mask_text(str(exc)),
                "Make it writable or remove it from RAILOPS['BACKUP_STORAGES'].",
                rank=0,
            )
    versions = ", ".join(f"{k} {v}" for k, v in facts.items() if k.endswith("_version"))
    report.add(
        "backup.dry_run",
        Severity.OK,
        f"Would back up {alias!r} ({tier}) with {engine.NAME} to "
        + ", ".join(p.describe() for p in places),
        versions,
        rank=90,
    )
    report.extend(ephemeral_findings(places))
    return report


def _discard(staged: Any, written: list[Place], filename: str) -> None:
    staged.abort()
    for place in written:
        try:
            storage.delete(place, filename)
        except Exception as exc:  # the leftover is removed by cleanup later
            logger.warning("could not remove %s from %s: %s", filename, place.label, exc)


def _create_findings(name: str, manifest: dict[str, Any], places: list[Place]) -> list[Finding]:
    dump = manifest["dump"]
    ratio = dump["raw_bytes"] / dump["bytes"] if dump["bytes"] else 0
    findings = [
        Finding(
            "backup.created",
            Severity.OK,
            f"backup {name} written to {len(places)} storage(s)",
            f"{dump['raw_bytes']:,} bytes dumped, {dump['bytes']:,} stored (x{ratio:.1f}), "
            f"sha256 {dump['sha256'][:16]}..., in {', '.join(p.describe() for p in places)}",
            rank=90,
            data={"name": name},
        )
    ]
    findings.extend(ephemeral_findings(places))
    findings.append(
        Finding(
            "backup.engine",
            Severity.INFO,
            f"engine: {manifest['engine']}",
            manifest.get("engine_reason", "") or f"{manifest['engine']} serves this database",
            rank=85,
            data={"engine": manifest["engine"], "reason": manifest.get("engine_reason", "")},
        )
    )
    info = manifest.get("engine_info") or {}
    if info.get("not_covered"):
        findings.append(
            Finding(
                "backup.partial",
                Severity.WARNING,
                f"{len(info['not_covered'])} object(s) left out: the migrations do not rebuild "
                "them",
                ", ".join(info["not_covered"][:20]),
                "Create them through migrations (a RunSQL naming them), or keep a pg_dump backup "
                "for them: the native engine restores only what the migrations rebuild.",
                rank=20,
            )
        )
    estimated = sorted(t for t, info in manifest["tables"].items() if not info["exact"])
    if estimated:
        findings.append(
            Finding(
                "backup.estimated_counts",
                Severity.INFO,
                f"{len(estimated)} large table(s) have estimated row counts in the manifest",
                "Tables above RAILOPS BACKUP_EXACT_COUNT_LIMIT rows: " + ", ".join(estimated[:10]),
                "Raise BACKUP_EXACT_COUNT_LIMIT for exact counts; verify --restore-test "
                "counts every row either way.",
                rank=80,
            )
        )
    return findings


def ephemeral_findings(places: list[Place]) -> list[Finding]:
    if not places or not all(p.ephemeral for p in places):
        return []
    return [
        Finding(
            "backup.ephemeral_storage",
            Severity.WARNING,
            "EVERY backup copy is on this container's disk, which Railway wipes on every deploy",
            "The only storage is " + ", ".join(p.describe() for p in places) + ", not on a volume.",
            "Mount a Railway volume (RAILOPS_BACKUP_DIR under RAILWAY_VOLUME_MOUNT_PATH) and add "
            "an offsite S3 bucket to RAILOPS['BACKUP_STORAGES'] (django-storages).",
            rank=1,
        )
    ]
