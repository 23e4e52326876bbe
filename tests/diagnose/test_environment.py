from __future__ import annotations

from railops_django.diagnose import environment
from railops_django.report import Severity

RAILWAY = {"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_PUBLIC_DOMAIN": "shop.up.railway.app"}
GOOD = {
    **RAILWAY,
    "SECRET_KEY": "x" * 60,
    "DATABASE_URL": "postgres://u:p@postgres.railway.internal:5432/railway",
}


def _by_id(findings):
    return {f.id: f for f in findings}


def test_required_variables__all_set_on_railway__no_findings():
    assert environment.environment_findings(GOOD) == []


def test_required_variables__missing_on_railway__critical_and_ranked_first():
    found = _by_id(environment.environment_findings(RAILWAY))
    for name in ("secret_key", "database_url"):
        f = found[f"diagnose.env.missing.{name}"]
        assert f.severity is Severity.CRITICAL and f.rank == 3 and f.fix


def test_required_variables__missing_off_railway__only_info():
    found = environment.environment_findings({})
    assert {f.id for f in found} == {
        "diagnose.env.missing.secret_key",
        "diagnose.env.missing.database_url",
    }
    assert all(f.severity is Severity.INFO for f in found)


def test_required_variables__empty_value__critical():
    f = _by_id(environment.environment_findings({**GOOD, "SECRET_KEY": "  "}))[
        "diagnose.env.empty.secret_key"
    ]
    assert f.severity is Severity.CRITICAL and f.rank == 2


def test_unresolved_reference__left_literal__critical_rank_1():
    env = {**GOOD, "DATABASE_URL": "${{postgres.DATABASE_URL}}"}
    f = _by_id(environment.environment_findings(env))["diagnose.env.unresolved_reference"]
    assert f.severity is Severity.CRITICAL and f.rank == 1 and f.data["variable"] == "DATABASE_URL"


def test_public_proxy__private_network_available__warning():
    env = {
        **GOOD,
        "DATABASE_URL": "postgres://u:p@roundhouse.proxy.rlwy.net:41234/railway",
        "RAILWAY_PRIVATE_DOMAIN": "web.railway.internal",
    }
    f = _by_id(environment.environment_findings(env))["diagnose.env.database_public_proxy"]
    assert f.severity is Severity.WARNING and f.rank == 40 and "DATABASE_URL" in f.fix


def test_pooler__server_side_cursors_on__warning_and_off__silent():
    env = {**GOOD, "DATABASE_UNPOOLED_URL": "postgres://u:p@db/x"}
    (f,) = environment.pooler(env, disable_server_side_cursors=False)
    assert (
        f.id == "diagnose.env.pooler_server_side_cursors"
        and f.severity is Severity.WARNING
        and f.rank == 35
    )
    assert environment.pooler(env, disable_server_side_cursors=True) == []
