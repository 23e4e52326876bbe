from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections
from django.db.utils import load_backend

NOPRIV_ROLE = "railops_health_nopriv"
ROLE_CONNECTION_LIMIT = 10


def pg_params(user: str = "") -> dict[str, object]:
    db = connections["default"].settings_dict
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": int(db["PORT"] or 5432),
        "dbname": db["NAME"],
        "user": user or db["USER"] or "postgres",
        "connect_timeout": 5,
    }


def pg_connect(user: str = "", autocommit: bool = True):
    import psycopg

    return psycopg.connect(**pg_params(user), autocommit=autocommit)


@contextmanager
def db_alias(alias: str, **overrides: object) -> Iterator[str]:
    """A second Django alias: the default database's settings with ``overrides``."""
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    settings_dict.update(overrides)
    # Not added to connections.settings: Django's test case allows such dynamic connections.
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    connections[alias] = wrapper
    try:
        yield alias
    finally:
        wrapper.close()
        del connections[alias]


@pytest.fixture
def admin():
    conn = pg_connect()
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def nopriv_role(admin):
    """A login role with no pg_monitor and a CONNECTION LIMIT; dropped afterwards."""
    admin.execute(f"DROP ROLE IF EXISTS {NOPRIV_ROLE}")
    admin.execute(f"CREATE ROLE {NOPRIV_ROLE} LOGIN CONNECTION LIMIT {ROLE_CONNECTION_LIMIT}")
    try:
        yield NOPRIV_ROLE
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            [NOPRIV_ROLE],
        )
        admin.execute(f"DROP ROLE IF EXISTS {NOPRIV_ROLE}")


def finding(report, fid: str):
    matches = [f for f in report.findings if f.id == fid]
    assert matches, f"no finding {fid}: {[(f.id, f.detail) for f in report.findings]}"
    return matches[0]
