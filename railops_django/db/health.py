"""What a vendor's health probe returns, and which vendor module measures a given alias.

``collect(alias)`` runs a fixed set of read-only queries (the same number whatever the number of
tables or indexes) and returns a ``Sample``: measurements to grade against thresholds, notes
(info findings such as a missing grant), tables for the report, and the cost of the run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..report import Finding, Severity
from . import vendor
from .connection import failure_finding, probe

# Every health statement runs under these (PostgreSQL: SET LOCAL in a read-only transaction).
STATEMENT_TIMEOUT_MS = 3000
LOCK_TIMEOUT_MS = 500
QUERY_TEXT_CHARS = 200


@dataclass(frozen=True)
class Measurement:
    """One measured fact. ``threshold`` names an entry of ``conf.DEFAULT_THRESHOLDS``.

    Without a threshold, ``severity`` is the fixed severity of the fact (an invalid index is a
    warning whatever its size). With a threshold and a value of None (nothing to measure yet),
    ``severity`` (default OK) applies.
    """

    id: str  # without the "health." prefix, e.g. "pg.connections"
    title: str  # what was measured, e.g. "Connection usage"
    value: float | int | None
    unit: str = ""
    threshold: str | None = None
    detail: str = ""
    fix: str = ""
    rank: int = 50
    severity: Severity | None = None
    min_severity: Severity = Severity.OK  # e.g. a blocked query is at least info
    max_severity: Severity = Severity.CRITICAL  # e.g. one short CPU sample proves no more
    labels: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def metric_name(self) -> str:
        return "railops_" + re.sub(r"[^a-zA-Z0-9_]", "_", self.id)


@dataclass
class Sample:
    vendor: str
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)  # files whose volume's disk usage matters
    connected: bool = True


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def masked_query(text: str | None) -> str:
    """A query's text for a report: string literals hidden, secrets masked, truncated."""
    from .. import redact

    if not text:
        return ""
    # Mask the whole text first: truncating first could cut a secret in half and hide it
    # from the masking.
    one_line = redact.mask_text(" ".join(_LITERAL.sub("'?'", text).split()))
    if len(one_line) > QUERY_TEXT_CHARS:
        one_line = one_line[: QUERY_TEXT_CHARS - 1] + "…"
    return one_line


def collect(alias: str) -> Sample:
    """Connect (a failure is one classified finding), then measure with the vendor's probe."""
    from . import pg_health, sqlite_health

    collectors: dict[str, Callable[[Sample, str, float | None], Sample]] = {
        "postgresql": pg_health.collect,
        "sqlite": sqlite_health.collect,
    }
    name = vendor(alias)
    sample = Sample(vendor=name)
    result = probe(alias)
    if not result.ok:
        assert result.error is not None
        sample.connected = False
        sample.notes.append(failure_finding(alias, result.error, "health", rank=0))
        return sample
    return collectors[name](sample, alias, result.latency_ms)


def cancel_query(alias: str, pid: int) -> bool:
    """Cancel the running query of session ``pid`` on database ``alias`` (the session stays).

    Only sessions of the same database; True when the server accepted the cancel request.
    Raises ``CannotRun`` where the vendor has no sessions to cancel.
    """
    from ..report import CannotRun
    from . import pg_health

    cancellers: dict[str, Callable[[str, int], bool]] = {"postgresql": pg_health.cancel_backend}
    name = vendor(alias)
    if name not in cancellers:
        raise CannotRun(f"{name} has no other sessions whose queries could be cancelled")
    return cancellers[name](alias, pid)
