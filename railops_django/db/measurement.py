"""What a vendor's health probe returns: ``Measurement`` and ``Sample``, the limits every health
statement runs under, and ``masked_query`` for a query's text in a report. Imports no vendor code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..report import Finding, Severity

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
