from __future__ import annotations

import os

import pytest
from django.db import connections


def _default_vendor() -> str:
    return connections["default"].vendor


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and _default_vendor() != "postgresql":
        reason = "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
        if os.environ.get("RAILOPS_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                f"RAILOPS_REQUIRE_POSTGRES=1 but the default database is {_default_vendor()}: {reason}"
            )
        pytest.skip(reason)
    if item.get_closest_marker("sqlite") and _default_vendor() != "sqlite":
        pytest.skip("SQLite-specific; this run's default database is " + _default_vendor())
