"""The ``RAILOPS`` setting: defaults, environment fallbacks and validation.

Values are read at call time (``conf.get("KEY")``), never copied into module constants.
An explicit ``settings.RAILOPS[KEY]`` wins over the ``RAILOPS_<KEY>`` environment variable,
which wins over the default. Validation runs as system checks (``railops.E0xx``), so a bad
value is reported by ``manage.py check`` instead of crashing inside a command.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from . import cron
from .report import CannotRun


def default_backup_dir() -> str:
    volume = os.environ.get("RAILWAY_VOLUME_MOUNT_PATH")
    if volume:
        return str(Path(volume) / "railops-backups")
    base = getattr(settings, "BASE_DIR", None) or os.getcwd()
    return str(Path(base) / "backups")


DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    # name: (warning, critical); the seed's values
    "connections_pct": (80, 95),
    "query_seconds": (1, 5),
    "disk_pct": (80, 90),
    "memory_pct": (80, 90),
    "cpu_pct": (80, 95),
    "idle_in_transaction_seconds": (60, 300),
    "latency_ms": (100, 1000),
    "cache_hit_ratio_pct": (99, 95),  # lower is worse
    "dead_tuple_pct": (20, 40),
    "wraparound_pct": (50, 75),
    "sequence_pct": (75, 90),
    "rollback_pct": (5, 20),
    # db_health (issue 4)
    "deadlocks": (1, 100),  # since the statistics reset
    "temp_files": (1000, 100_000),  # since the statistics reset
    "analyze_age_days": (7, 30),  # tables with many rows changed since their last analyze
    "slot_retained_wal_mb": (1024, 10_240),
    "sqlite_freelist_pct": (25, 50),
    "sqlite_wal_mb": (256, 1024),
}
LOWER_IS_WORSE = frozenset({"cache_hit_ratio_pct"})

# Upper bounds: generous, but below where a value would overflow a timedelta, a C int or zstd.
DAY_S = 86_400
INT32_MAX = 2_147_483_647
RETENTION_MAX = 10_000  # backups kept per tier


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    types: tuple[type, ...]
    doc: str
    env: bool = False  # falls back to RAILOPS_<name>
    choices: tuple[str, ...] = ()
    validate: Callable[[Any], str | None] | None = None  # returns a problem, or None
    bounds: tuple[float, float] | None = None  # a number's inclusive range
    shape: str = ""  # what a good value is, in words, where its types do not say it

    def expected(self) -> str:
        if self.shape:
            return self.shape
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.bounds is not None:
            kind = "a number" if float in self.types else "an integer"
            return f"{kind} from {fmt_number(self.bounds[0])} to {fmt_number(self.bounds[1])}"
        return " or ".join(t.__name__ for t in self.types)


def fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short: a 5000-digit number is not echoed whole in a message."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"an int of about {int(value.bit_length() * 0.30103)} digits"
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} characters)"


def number_problem(value: Any, low: float, high: float) -> str | None:
    """The one range rule for every number (settings, tiers, thresholds, command-line flags):
    finite and within ``low..high``, inclusive; None when it is fine."""
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    span = f" from {fmt_number(low)} to {fmt_number(high)}"
    if not finite:
        bounded = math.isfinite(low) and math.isfinite(high)
        return f"must be a finite number{span if bounded else ''}, got {shown(value)}"
    if not low <= value <= high:
        return f"must be{span}, got {shown(value)}"
    return None


def _retention_problem(value: Any) -> str | None:
    bad = set(value) - {"daily", "weekly", "monthly"}
    if bad:
        return f"unknown tier(s) {sorted(bad)}; expected keys daily, weekly, monthly"
    for tier, count in value.items():
        if not isinstance(count, int) or isinstance(count, bool):
            return f"{tier} must be an int from 0 to {RETENTION_MAX}, got {shown(count)}"
        problem = number_problem(count, 0, RETENTION_MAX)
        if problem:
            return f"{tier} {problem}"
    return None


def _thresholds_problem(value: Any) -> str | None:
    for name, pair in value.items():
        if name not in DEFAULT_THRESHOLDS:
            close = difflib.get_close_matches(name, DEFAULT_THRESHOLDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown threshold {name!r}{hint}"
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in pair)
        ):
            return f"{name} must be a [warning, critical] pair of numbers, got {shown(pair)}"
        problem = next(
            (p for p in (number_problem(n, 0, _threshold_max(name)) for n in pair) if p), None
        )
        if problem:
            return f"{name}: each of [warning, critical] {problem}"
        warning, critical = pair
        if name in LOWER_IS_WORSE and warning < critical:
            return (
                f"{name} is lower-is-worse, so warning must not be below critical, got {pair!r} "
                f"(e.g. {list(DEFAULT_THRESHOLDS[name])})"
            )
        if name not in LOWER_IS_WORSE and warning > critical:
            return (
                f"{name}: warning must not be above critical, got {pair!r} "
                f"(e.g. {list(DEFAULT_THRESHOLDS[name])})"
            )
    return None


def _threshold_max(name: str) -> float:
    return 100 if name.endswith("_pct") else 1e12


def _str_list_problem(value: Any) -> str | None:
    if not all(isinstance(item, str) for item in value):
        return "every item must be a str"
    return None


def _backup_dir_problem(value: Any) -> str | None:
    """BACKUP_DIR is an absolute path without control characters: a relative one names another
    directory from each working directory (a cron job run from / would not see the deploy's
    backups), and a newline or NUL in it is a pasting accident, not a directory."""
    text = str(value)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return f"must not hold control characters (a newline, a tab, NUL), got {shown(text)}"
    if not Path(text).is_absolute():
        return (
            f"must be an absolute path, got {shown(text)} (relative to the working directory, "
            "it would move with it: use BASE_DIR / 'backups' or /data/railops-backups)"
        )
    return None


def _storages_problem(value: Any) -> str | None:
    """Every alias of BACKUP_STORAGES is "local" or a key of settings.STORAGES."""
    problem = _str_list_problem(value)
    if problem is not None:
        return problem
    known = set(getattr(settings, "STORAGES", None) or {})
    missing = [alias for alias in value if alias != "local" and alias not in known]
    if missing:
        return (
            f"names {shown(missing[0])}, which is not in settings.STORAGES (add "
            f"STORAGES[{shown(missing[0])}] or remove it)"
        )
    return None


KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        Key(
            "BACKUP_DIR",
            None,
            (str, Path),
            "Local backup directory. Default: "
            "$RAILWAY_VOLUME_MOUNT_PATH/railops-backups on a volume, else <BASE_DIR>/backups.",
            env=True,
            validate=_backup_dir_problem,
            shape="an absolute path (str or Path)",
        ),
        Key(
            "BACKUP_STORAGES",
            [],
            (list, tuple),
            "Aliases from settings.STORAGES that each "
            "receive a copy of every backup. Empty: only the local BACKUP_DIR.",
            env=True,
            validate=_storages_problem,
        ),
        Key(
            "BACKUP_RETENTION",
            {"daily": 7, "weekly": 4, "monthly": 12},
            (dict,),
            "How many backups of each tier cleanup keeps.",
            validate=_retention_problem,
        ),
        Key(
            "BACKUP_SPECIAL_RETENTION_DAYS",
            30,
            (int,),
            "Days to keep emergency and predeploy backups.",
            env=True,
            bounds=(0, 36_500),
        ),
        Key(
            "BACKUP_MIN_GOOD",
            1,
            (int,),
            "Cleanup never leaves fewer good backups than this.",
            env=True,
            bounds=(0, RETENTION_MAX),
        ),
        Key(
            "BACKUP_MAX_AGE",
            26 * 3600,
            (int, float),
            "Seconds; the recovery point objective. "
            "The newest good backup older than this is a warning, twice this is critical.",
            env=True,
            bounds=(60, 366 * DAY_S),
        ),
        Key(
            "BACKUP_SCHEDULE",
            "0 3 * * *",
            (str,),
            "A five-field cron expression (UTC) for the backup daemon, e.g. '0 3 * * *'.",
            env=True,
            validate=cron.problem,
        ),
        Key(
            "BACKUP_ENGINE",
            "auto",
            (str,),
            "PostgreSQL backup engine.",
            env=True,
            choices=("auto", "pg_dump", "native"),
        ),
        Key(
            "BACKUP_EXACT_COUNT_LIMIT",
            100_000,
            (int,),
            "Tables with more estimated rows get an estimated row count in the manifest.",
            env=True,
            bounds=(0, 10**15),
        ),
        Key(
            "BACKUP_LAYOUT",
            "columns",
            (str,),
            "'columns': lay the dump's text rows out column by column before zstd (smaller; "
            "'python -m railops_django unpack' gives the plain dump back). 'plain': the engine's "
            "own format, which 'zstd -d' alone restores.",
            env=True,
            choices=("columns", "plain"),
        ),
        Key(
            "BACKUP_COMPRESSION_LEVEL",
            3,
            (int,),
            "zstd level for backups.",
            env=True,
            bounds=(1, 22),
        ),
        Key(
            "THRESHOLDS",
            {},
            (dict,),
            "Overrides of the health thresholds, {name: [warning, critical]}.",
            validate=_thresholds_problem,
        ),
        Key(
            "CONNECT_TIMEOUT",
            5,
            (int, float),
            "Seconds to wait when connecting to the database.",
            env=True,
            bounds=(0, 600),
        ),
        Key(
            "LOCK_TIMEOUT_MS",
            2000,
            (int,),
            "lock_timeout for each migration (PostgreSQL).",
            env=True,
            bounds=(0, DAY_S * 1000),
        ),
        Key(
            "STATEMENT_TIMEOUT_MS",
            0,
            (int,),
            "statement_timeout for each migration; 0 is off.",
            env=True,
            bounds=(0, DAY_S * 1000),
        ),
        Key(
            "MIGRATION_RETRIES",
            5,
            (int,),
            "Retries of a migration that hit lock_timeout.",
            env=True,
            bounds=(0, 100),
        ),
        Key(
            "MIGRATION_LOCK_WAIT",
            600,
            (int, float),
            "Seconds a replica waits for another replica's migration lock.",
            env=True,
            bounds=(0, DAY_S),
        ),
        Key(
            "ALERT_WEBHOOK_URL",
            "",
            (str,),
            "Slack/Discord-compatible webhook for --alert.",
            env=True,
        ),
        Key(
            "ALERT_MIN_SEVERITY",
            "warning",
            (str,),
            "Lowest severity that is alerted.",
            env=True,
            choices=("info", "warning", "critical"),
        ),
        Key(
            "HEALTHCHECK_PATH",
            "",
            (str,),
            "The Railway healthcheck path; read from railway.json/railway.toml when empty.",
            env=True,
        ),
        Key(
            "CUSTOM_DOMAINS",
            [],
            (list, tuple),
            "Custom domains served by this service.",
            env=True,
            validate=_str_list_problem,
        ),
        Key(
            "HEALTH_TOKEN",
            "",
            (str,),
            "Bearer token that lets a caller of railops/health/ see details and timings, and "
            "read railops/metrics/ (staff users need none). Empty: staff only.",
            env=True,
        ),
        Key(
            "HEALTH_CACHE_SECONDS",
            60,
            (int, float),
            "Seconds railops/health/ keeps the result of its slow checks (migration graph, "
            "schema drift, static manifest); the database round trip runs on every request.",
            env=True,
            bounds=(0, DAY_S),
        ),
        Key(
            "HEALTH_HISTORY_DAYS",
            30,
            (int,),
            "Days of 'db_health --record' samples kept for the dashboard's history charts.",
            env=True,
            bounds=(1, 3660),
        ),
        Key(
            "BACKUP_NATIVE_WORKERS",
            1,
            (int,),
            "Parallel connections (sharing one snapshot) for the native engine's dump.",
            env=True,
            bounds=(1, 64),
        ),
        Key(
            "MIGRATION_LOCK_RISK_ROWS",
            100_000,
            (int,),
            "safe_migrate: below this many rows (and MIGRATION_LOCK_RISK_BYTES) a lock rule "
            "(index without CONCURRENTLY, SET NOT NULL, validated constraint...) is a warning "
            "with the safe alternative, not a block; an empty table or one created in the "
            "same plan gets no lock finding.",
            env=True,
            bounds=(0, 10**15),
        ),
        Key(
            "MIGRATION_LOCK_RISK_BYTES",
            128 * 1024 * 1024,
            (int,),
            "safe_migrate: a table at or above this size (pg_total_relation_size) is judged "
            "as big for the lock rules whatever its row count.",
            env=True,
            bounds=(0, 2**62),
        ),
        Key(
            "MIGRATION_COMPAT_SEVERITY",
            "critical",
            (str,),
            "safe_migrate: severity of the compatibility rules (column or table dropped or "
            "renamed while the previous release runs) on a table that existed before the plan, "
            "whatever its size; 'critical' blocks. NOT NULL without a database default takes "
            "it on tables above MIGRATION_LOCK_RISK_ROWS and is a warning below.",
            env=True,
            choices=("critical", "warning"),
        ),
    ]
}


def _from_env(key: Key, raw: str) -> Any:
    """Parse ``RAILOPS_<KEY>`` into the key's type."""
    if list in key.types:
        raw = raw.strip()
        if raw.startswith("["):
            return json.loads(raw)
        return [item.strip() for item in raw.split(",") if item.strip()]
    if int in key.types and float not in key.types:
        return int(raw)
    if float in key.types:
        number = float(raw)
        return int(number) if number.is_integer() else number
    if dict in key.types:
        return json.loads(raw)
    return raw


def _user_settings() -> Any:
    return getattr(settings, "RAILOPS", {})


@dataclass(frozen=True)
class Problem:
    """One bad setting: the system check's id, message and hint, and the one line a command
    prints for it (key, problem, fix, id)."""

    id: str
    msg: str
    hint: str

    def error(self) -> Error:
        return Error(self.msg, hint=self.hint, id=self.id)

    def line(self, more: int = 0) -> str:
        counted = f" ({more} more)" if more else ""
        return (
            f"{self.msg.rstrip('.')}: {self.hint.rstrip('.')} ({self.id}){counted}; "
            "'python manage.py check' lists every problem"
        )


def _not_a_dict(user: Any) -> Problem:
    return Problem(
        "railops.E001",
        f"RAILOPS must be a dict, got {type(user).__name__} {shown(user)}.",
        "Set RAILOPS = {} or remove it; see the README's Settings section.",
    )


def _unknown_key(name: Any) -> Problem:
    close = difflib.get_close_matches(str(name), KEYS, n=1)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    return Problem(
        "railops.E002",
        f"RAILOPS[{shown(name)}] is not a railops setting.",
        hint + "Known keys: " + ", ".join(sorted(KEYS)) + ".",
    )


def _setting_problem(key: Key, value: Any) -> Problem | None:
    problem = _problem(key, value)
    if problem is None:
        return None
    return Problem(
        "railops.E003",
        f"RAILOPS[{key.name!r}] {problem}.",
        f"Set it to {key.expected()} in settings.RAILOPS: {key.doc}",
    )


def _env_value(key: Key) -> tuple[Any, Problem | None]:
    """The parsed ``RAILOPS_<KEY>`` value, or the problem with it."""
    variable = f"RAILOPS_{key.name}"
    try:
        value = _from_env(key, os.environ[variable])
    except (ValueError, OverflowError, RecursionError):  # JSON nested past the limit
        problem: str | None = f"is not {key.expected()}, got {shown(os.environ[variable])}"
        value = None
    else:
        problem = _problem(key, value)
    if problem is None:
        return value, None
    return None, Problem(
        "railops.E004",
        f"Environment variable {variable} {problem}.",
        f"Set {variable} to {key.expected()}, or unset it: {key.doc}",
    )


def get(name: str) -> Any:
    """The effective value of ``RAILOPS[name]``; raises CannotRun when it is invalid."""
    key = KEYS[name]
    user = _user_settings()
    if not isinstance(user, Mapping):
        raise CannotRun(_not_a_dict(user).line())
    if name in user:
        value = user[name]
        problem = _setting_problem(key, value)
    elif key.env and os.environ.get(f"RAILOPS_{name}", "") != "":
        value, problem = _env_value(key)
    elif name == "BACKUP_DIR":
        return default_backup_dir()
    else:
        value = key.default
        if isinstance(value, dict):
            value = dict(value)
        elif isinstance(value, list):
            value = list(value)
        problem = None
    if problem is not None:
        raise CannotRun(problem.line())
    if name == "THRESHOLDS":
        merged = dict(DEFAULT_THRESHOLDS)
        merged.update({k: tuple(v) for k, v in value.items()})
        return merged
    if name == "BACKUP_DIR":
        return str(value)
    return value


def threshold(name: str) -> tuple[float, float]:
    warning, critical = get("THRESHOLDS")[name]
    return float(warning), float(critical)


def _problem(key: Key, value: Any) -> str | None:
    if not isinstance(value, key.types) or (isinstance(value, bool) and bool not in key.types):
        return f"must be {key.expected()}, got {type(value).__name__} {shown(value)}"
    if key.choices and value not in key.choices:
        return f"must be {key.expected()}, got {shown(value)}"
    if key.bounds is not None or isinstance(value, int | float):
        # a number without declared bounds must at least be finite
        low, high = key.bounds or (-math.inf, math.inf)
        problem = number_problem(value, low, high)
        if problem:
            return problem
    if key.validate is not None:
        return key.validate(value)
    return None


def problems() -> list[Problem]:
    """Every problem with the RAILOPS dict and the RAILOPS_* environment variables."""
    user = _user_settings()
    if not isinstance(user, Mapping):
        return [_not_a_dict(user)]
    found: list[Problem] = []
    for name, value in user.items():
        key = KEYS.get(name)
        problem = _unknown_key(name) if key is None else _setting_problem(key, value)
        if problem is not None:
            found.append(problem)
    for name, key in KEYS.items():
        if not key.env or os.environ.get(f"RAILOPS_{name}", "") == "" or name in user:
            continue
        _, problem = _env_value(key)
        if problem is not None:
            found.append(problem)
    return found


def check_settings(**kwargs: Any) -> list[CheckMessage]:
    """System check: the RAILOPS dict and the RAILOPS_* environment variables."""
    return [problem.error() for problem in problems()]
