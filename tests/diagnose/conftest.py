from __future__ import annotations

from tests.test_canary import canary_env  # noqa: F401  (the shared canary fixture)
