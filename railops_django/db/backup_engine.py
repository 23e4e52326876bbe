"""The one place where a backup engine is chosen for a database alias.

What an engine is (``Engine``, ``Dump``, ``EngineError``) lives in ``backup_types``, apart from
any vendor; which engines a vendor has is in the strategy table of ``db/__init__.py``.
"""

from __future__ import annotations

from typing import cast

from .. import conf
from ..redact import logger
from ..report import CannotRun
from . import VENDORS, vendor, vendor_module
from .backup_types import Dump, Engine, EngineError

__all__ = ["Dump", "Engine", "EngineError", "by_name", "for_alias", "for_vendor"]


def _engine(vendor_name: str, engine: str) -> Engine:
    return cast(Engine, vendor_module(vendor_name, VENDORS[vendor_name].engines[engine]))


def by_name(name: str) -> Engine:
    """The engine that wrote a manifest (``manifest["engine"]``)."""
    for vendor_name, spec in VENDORS.items():
        if name in spec.engines:
            return _engine(vendor_name, name)
    raise CannotRun(f"backup engine {name!r} is not available in this railops version")


def for_vendor(alias: str) -> Engine:
    """An engine of ``alias``'s vendor, without preflight (for what every engine of it does)."""
    name = vendor(alias)
    return _engine(name, next(iter(VENDORS[name].engines)))


def for_alias(alias: str) -> Engine:
    """The engine for ``alias``, honouring ``RAILOPS["BACKUP_ENGINE"]`` (auto|pg_dump|native)."""
    name = vendor(alias)
    choice = conf.get("BACKUP_ENGINE")
    engines = VENDORS[name].engines
    if len(engines) == 1:
        return _engine(name, next(iter(engines)))
    if choice in engines:
        return _engine(name, choice)
    # "auto": the first engine (pg_dump) when its preflight passes (installed, not older than
    # the server), else the fallback (native, which needs no client binary).
    first, fallback = list(engines)[:2]
    engine = _engine(name, first)
    try:
        engine.preflight(alias)
    except CannotRun as exc:
        logger.info("backup engine auto: %s, because %s", fallback, exc)
        return _engine(name, fallback)
    return engine
