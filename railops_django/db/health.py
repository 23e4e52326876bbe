"""Which vendor module measures a given alias, and cancelling a session's query.

``collect(alias)`` runs a fixed set of read-only queries (the same number whatever the number of
tables or indexes) and returns a ``Sample``: measurements to grade against thresholds, notes
(info findings such as a missing grant), tables for the report, and the cost of the run. What a
probe returns (``Measurement``, ``Sample``) is in ``measurement``, apart from any vendor.
"""

from __future__ import annotations

from collections.abc import Callable

from ..report import CannotRun
from . import VENDORS, vendor, vendor_module
from .connection import failure_finding, probe
from .measurement import (
    LOCK_TIMEOUT_MS,
    QUERY_TEXT_CHARS,
    STATEMENT_TIMEOUT_MS,
    Measurement,
    Sample,
    masked_query,
)

__all__ = [
    "LOCK_TIMEOUT_MS",
    "QUERY_TEXT_CHARS",
    "STATEMENT_TIMEOUT_MS",
    "Measurement",
    "Sample",
    "cancel_query",
    "collect",
    "masked_query",
]


def collect(alias: str) -> Sample:
    """Connect (a failure is one classified finding), then measure with the vendor's probe."""
    name = vendor(alias)
    collect_vendor: Callable[[Sample, str, float | None], Sample] = vendor_module(
        name, "health"
    ).collect
    sample = Sample(vendor=name)
    result = probe(alias)
    if not result.ok:
        assert result.error is not None
        sample.connected = False
        sample.notes.append(failure_finding(alias, result.error, "health", rank=0))
        return sample
    return collect_vendor(sample, alias, result.latency_ms)


def cancel_query(alias: str, pid: int) -> bool:
    """Cancel the running query of session ``pid`` on database ``alias`` (the session stays).

    Only sessions of the same database; True when the server accepted the cancel request.
    Raises ``CannotRun`` where the vendor has no sessions to cancel.
    """
    name = vendor(alias)
    if not VENDORS[name].cancels_queries:
        raise CannotRun(f"{name} has no other sessions whose queries could be cancelled")
    cancel: Callable[[str, int], bool] = vendor_module(name, "health").cancel_backend
    return cancel(alias, pid)
