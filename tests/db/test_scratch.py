"""The scratch database of a restore test: what it tells a role that may not create one."""

from __future__ import annotations

import pytest
from django.db import connections

from railops_django.report import CannotRun

psycopg = pytest.importorskip("psycopg")


class _RefusingCursor:
    def execute(self, sql: str, params: object = None) -> None:
        if sql.startswith("CREATE DATABASE"):
            raise psycopg.errors.InsufficientPrivilege("permission denied to create database")


@pytest.mark.parametrize(
    ("role", "shown"),
    [
        ("app", "ALTER ROLE app CREATEDB"),
        ("railops_2", "ALTER ROLE railops_2 CREATEDB"),
        ("us'er\"x", 'ALTER ROLE "us\'er""x" CREATEDB'),
        ("App", 'ALTER ROLE "App" CREATEDB'),
        ("my role", 'ALTER ROLE "my role" CREATEDB'),
    ],
)
def test_create__role_may_not_create_databases__hint_quotes_the_role_as_sql(
    monkeypatch, role, shown
):
    from railops_django.db.postgres.scratch import _create

    monkeypatch.setitem(connections["default"].settings_dict, "USER", role)
    with pytest.raises(CannotRun) as raised:
        _create(_RefusingCursor(), "default", "railops_scratch_x")
    assert f"grant it ({shown}, as a superuser)" in str(raised.value)
