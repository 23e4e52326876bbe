"""emergency_rollback: assess the damage, take an emergency backup, recover, or print the guide."""

from __future__ import annotations

from .assess import assess
from .guide import guide
from .recover import RecoverOptions, emergency_backup, recover

__all__ = ["RecoverOptions", "assess", "emergency_backup", "guide", "recover"]
