"""db/target.py: is DATABASES[alias] the database DATABASE_URL (or DATABASE_UNPOOLED_URL) names?"""

from __future__ import annotations

import pytest

from railops_django.db import target
from railops_django.db.target import place, same_database
from railops_django.report import CannotRun

PASSWORD = "s3cr3t-Pa55word-canary"
PRIVATE = f"postgres://app:{PASSWORD}@postgres.railway.internal:5432/railway"
PUBLIC = f"postgres://app:{PASSWORD}@roundhouse.proxy.rlwy.net:41234/railway"
ON_RAILWAY = {"RAILWAY_ENVIRONMENT": "production"}


def _pg(**overrides: object) -> dict[str, object]:
    settings_dict: dict[str, object] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "postgres.railway.internal",
        "PORT": 5432,
        "NAME": "railway",
        "USER": "app",
        "PASSWORD": PASSWORD,
    }
    settings_dict.update(overrides)
    return settings_dict


def _default(settings_dict: dict[str, object]) -> dict[str, dict[str, object]]:
    return {"default": settings_dict}


def test_place__engine_vendor_port_default_and_local_hosts():
    assert place(_pg(PORT="")).port == 5432
    assert place(_pg(HOST="", PORT="")) == place(_pg(HOST="127.0.0.1", PORT="5432"))
    assert place(_pg(HOST="/var/run/postgresql")).host == "localhost"
    assert place({"ENGINE": "django.contrib.gis.db.backends.postgis"}).vendor == "postgresql"
    assert place({"ENGINE": "django.db.backends.sqlite3", "NAME": "a/../b.db"}).name.endswith(
        "/b.db"
    )


def test_describe__names_vendor_host_port_and_database__never_user_or_password():
    text = place(_pg()).describe()
    assert text == "postgresql postgres.railway.internal:5432/railway"
    assert PASSWORD not in repr(place(_pg())) and "app" not in text


@pytest.mark.parametrize(
    ("named", "configured", "same"),
    [
        (_pg(), _pg(), True),
        (_pg(), _pg(NAME="other"), False),
        (_pg(), _pg(PORT=5433), False),
        (_pg(), _pg(HOST="postgres-2.railway.internal"), False),  # a second Postgres service
        (_pg(), _pg(NAME="test_railway"), True),  # Django's test database for it
        # Railway's private name and its public proxy: the same database when the credentials are
        (_pg(), _pg(HOST="roundhouse.proxy.rlwy.net", PORT=41234), True),
        (_pg(), _pg(HOST="roundhouse.proxy.rlwy.net", PORT=41234, PASSWORD="other"), False),
        (_pg(), _pg(HOST="roundhouse.proxy.rlwy.net", PORT=41234, USER="other"), False),
        (_pg(), {"ENGINE": "django.db.backends.sqlite3", "NAME": "railway"}, False),
        (  # a non-ASCII password is compared too, never a TypeError
            _pg(PASSWORD="pässwörd"),
            _pg(HOST="roundhouse.proxy.rlwy.net", PORT=41234, PASSWORD="pässwörd"),
            True,
        ),
    ],
)
def test_same_database(named, configured, same):
    assert same_database(place(named), place(configured)) is same


def test_same_database__sqlite_by_resolved_path(tmp_path):
    named = place({"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "a.db")})
    again = place({"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "x/../a.db")})
    other = place({"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "b.db")})
    assert same_database(named, again) and not same_database(named, other)
    assert same_database(named, other, test_name=other.name)  # the alias's TEST NAME in use


def test_mismatch__no_variable__no_verdict():
    dbs = _default(_pg())
    assert target.mismatch("default", {}, dbs) is None
    assert target.mismatch("default", {"DATABASE_URL": "  "}, dbs) is None  # diagnose says so


def test_mismatch__settings_read_the_variable__none():
    assert target.mismatch("default", {"DATABASE_URL": PRIVATE}, _default(_pg())) is None


def test_mismatch__another_postgres_database__named_and_configured_without_secrets():
    dbs = _default(_pg(HOST="db.example.com", NAME="legacy"))
    found = target.mismatch("default", {"DATABASE_URL": PRIVATE}, dbs)
    assert found is not None and not found.unresolved and found.variable == "DATABASE_URL"
    assert found.problem == (
        "DATABASE_URL names postgresql postgres.railway.internal:5432/railway, but "
        "DATABASES['default'] is postgresql db.example.com:5432/legacy"
    )
    assert PASSWORD not in found.problem + found.fix and "DATABASE_URL" in found.fix


def test_mismatch__settings_fell_back_to_sqlite(tmp_path):
    dbs = _default({"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")})
    found = target.mismatch("default", {"DATABASE_URL": PRIVATE}, dbs)
    assert found is not None and f"is sqlite {tmp_path / 'db.sqlite3'}" in found.problem


def test_mismatch__unresolved_reference__even_when_settings_look_fine():
    env = {"DATABASE_URL": "${{Postgres.DATABASE_URL}}"}
    found = target.mismatch("default", env, _default(_pg()))
    assert found is not None and found.unresolved and found.named is None
    assert "unresolved Railway reference" in found.problem and "${{Postgres" in found.fix


def test_mismatch__unpooled_url_is_the_same_database_behind_the_pooler():
    direct = f"postgres://app:{PASSWORD}@postgres.railway.internal:5432/railway"
    pooled = f"postgres://app:{PASSWORD}@pgbouncer.railway.internal:6432/railway"
    env = {"DATABASE_URL": pooled, "DATABASE_UNPOOLED_URL": direct}
    assert target.mismatch("default", env, _default(_pg())) is None  # settings use the direct one
    pooled_settings = _pg(HOST="pgbouncer.railway.internal", PORT=6432)
    assert target.mismatch("default", env, _default(pooled_settings)) is None  # ... or the pooler
    found = target.mismatch("default", env, _default(_pg(NAME="other")))
    assert found is not None and found.variable == "DATABASE_URL"


def test_mismatch__unpooled_url_alone_is_checked():
    found = target.mismatch("default", {"DATABASE_UNPOOLED_URL": PRIVATE}, _default(_pg(NAME="x")))
    assert found is not None and found.variable == "DATABASE_UNPOOLED_URL"


def test_mismatch__settings_use_the_public_url__same_database():
    dbs = _default(_pg(HOST="roundhouse.proxy.rlwy.net", PORT=41234))
    assert target.mismatch("default", {"DATABASE_URL": PRIVATE}, dbs) is None
    # ... also when the project reads DATABASE_PUBLIC_URL itself
    env = {"DATABASE_URL": PRIVATE, "DATABASE_PUBLIC_URL": PUBLIC}
    assert target.mismatch("default", env, dbs) is None


def test_mismatch__another_alias_reads_the_variable__not_a_mismatch():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    dbs = {"default": sqlite, "pg": _pg()}
    assert target.mismatch("default", {"DATABASE_URL": PRIVATE}, dbs) is None


def test_mismatch__unparsable_url__no_verdict():
    dbs = _default(_pg())
    assert target.mismatch("default", {"DATABASE_URL": "not a url"}, dbs) is None
    assert target.mismatch("default", {"DATABASE_URL": "postgres://h:port/x"}, dbs) is None


def test_refuse__on_railway_only_and_the_override_lets_it_run():
    dbs = _default(_pg(NAME="legacy"))
    env = {"DATABASE_URL": PRIVATE}
    target.refuse_on_mismatch("default", env, dbs)  # off Railway: diagnose reports, none refuses
    with pytest.raises(CannotRun) as caught:
        target.refuse_on_mismatch("default", {**env, **ON_RAILWAY}, dbs)
    message = str(caught.value)
    assert "refusing to change data on Railway" in message and "\n" not in message
    assert f"{target.OVERRIDE}=1" in message and PASSWORD not in message
    for value in ("1", "true", "YES"):
        target.refuse_on_mismatch("default", {**env, **ON_RAILWAY, target.OVERRIDE: value}, dbs)
    with pytest.raises(CannotRun):
        target.refuse_on_mismatch("default", {**env, **ON_RAILWAY, target.OVERRIDE: "0"}, dbs)


def test_refuse__same_database__runs():
    target.refuse_on_mismatch("default", {"DATABASE_URL": PRIVATE, **ON_RAILWAY}, _default(_pg()))


@pytest.mark.django_db
def test_mismatch__the_test_database_in_use_is_the_one_database_url_names():
    """Under pytest-django the connection holds test_<NAME>: that is not a mismatch."""
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    if connections["default"].vendor == "sqlite":
        url = f"sqlite:///{settings_dict['NAME']}"
    else:
        url = f"postgres://{settings_dict['HOST'] or 'localhost'}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME'].removeprefix('test_')}"
    assert target.mismatch("default", {"DATABASE_URL": url}) is None


def test_place__unknown_engine_and_bad_port__no_crash():
    odd = place({"ENGINE": "custom.backends.vertica", "HOST": "db", "PORT": "abc", "NAME": "x"})
    assert odd.vendor == "vertica" and odd.port is None and odd.describe() == "vertica db/x"


def test_place__sqlite_name_that_is_no_path__kept_as_is():
    assert place({"ENGINE": "django.db.backends.sqlite3", "NAME": "a\0b"}).name == "a\0b"
    assert place({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}).name == ":memory:"
