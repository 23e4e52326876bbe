from __future__ import annotations

import logging
import subprocess
import sys
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from railops_django import redact

PASSWORDS = [
    "s3cr3t-Passw0rd",
    "p@ss:w/rd%41#x?y",
    "with space inside",
    "пароль-Ünïcødé-密码",
    "a%2Fb%40c",
    "trailing@",
    "::::",
]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize(
    "scheme", ["postgres", "postgresql", "mysql", "redis", "amqp", "https", "s3"]
)
def test_url_of_any_scheme__encoded_password_is_masked_rest_kept(password, scheme):
    url = f"{scheme}://user:{quote(password, safe='')}@db.example.com:5432/app?sslmode=require"
    masked = redact.mask_text(f"connecting to {url} now", secrets=[])
    assert quote(password, safe="") not in masked
    assert f"{scheme}://user:{redact.MASK}@db.example.com:5432/app?sslmode=require" in masked


@pytest.mark.parametrize("password", PASSWORDS)
def test_known_secret__raw_and_encoded_forms_masked_everywhere(password, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgres://u:{quote(password, safe='')}@h:5432/d")
    text = f"raw {password} | encoded {quote(password, safe='')} | in a sentence: {password}."
    masked = redact.mask_text(text)
    assert password not in masked
    assert quote(password, safe="") not in masked


def test_user_only_and_passwordless_urls__left_intact():
    for url in [
        "postgres://user@host:5432/db",
        "redis://localhost:6379/0",
        "https://example.com/a@b",
    ]:
        assert redact.mask_text(url, secrets=[]) == url


@pytest.mark.parametrize(
    "param", ["password", "sslpassword", "token", "access_token", "api_key", "X-Amz-Signature"]
)
def test_query_string_secrets__masked(param):
    text = f"https://svc.example.com/hook?user=me&{param}=hunter2hunter2&x=1"
    masked = redact.mask_text(text, secrets=[])
    assert "hunter2hunter2" not in masked
    assert f"{param}={redact.MASK}" in masked and "user=me" in masked and "x=1" in masked


def test_railway_style_database_urls__masked():
    urls = [
        "postgresql://postgres:AbCdEfGhIjKlMnOpQrStUvWxYz012345@postgres.railway.internal:5432/railway",
        "postgresql://postgres:AbCdEfGhIjKlMnOpQrStUvWxYz012345@roundhouse.proxy.rlwy.net:41234/railway",
    ]
    for url in urls:
        masked = redact.mask_text(url, secrets=[])
        assert "AbCdEfGhIjKlMnOpQrStUvWxYz012345" not in masked
        assert url.split("@")[1] in masked


@pytest.mark.parametrize(
    "text",
    [
        "PGPASSWORD=topsecret99 pg_dump",
        "password='topsecret99'",
        '{"SECRET_KEY": "topsecret99"}',
        "AWS_SECRET_ACCESS_KEY=topsecret99",
        "sslpassword=topsecret99 host=x",
    ],
)
def test_assignments_with_secret_names__masked(text):
    assert "topsecret99" not in redact.mask_text(text, secrets=[])


def test_mapping__secret_keys_vanish_and_nested_urls_masked():
    data = {
        "PASSWORD": "pw-1234",
        "HOST": "db",
        "nested": [{"url": "postgres://a:pw-5678@h/d", "token": "tok-9999"}],
        "count": 3,
    }
    masked = redact.mask_mapping(data)
    assert masked["PASSWORD"] == redact.MASK
    assert masked["HOST"] == "db" and masked["count"] == 3
    assert masked["nested"][0]["token"] == redact.MASK
    assert "pw-5678" not in masked["nested"][0]["url"]


def test_exception_and_traceback__masked(monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "Tr4ceback-Canary")
    try:
        raise ConnectionError("auth failed for postgres://app:Tr4ceback-Canary@db/x")
    except ConnectionError as exc:
        one_line = redact.mask_exception(exc)
        full = redact.mask_traceback(exc)
    assert one_line.startswith("ConnectionError: auth failed for postgres://app:")
    assert "Tr4ceback-Canary" not in one_line + full
    assert "Traceback (most recent call last)" in full


def test_subprocess_output__masked(monkeypatch):
    monkeypatch.setenv("SOME_API_TOKEN", "Sub-Pr0cess-Canary")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; sys.stderr.write('token is Sub-Pr0cess-Canary')"],
        capture_output=True,
        check=False,
    )
    assert redact.mask_process_output(proc.stderr) == f"token is {redact.MASK}"
    assert redact.mask_process_output(None) == ""


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_settings_secrets__secret_key_and_db_password_are_known(settings):
    settings.SECRET_KEY = "Settings-Secret-Canary-1"
    settings.DATABASES = {**settings.DATABASES, "other": {"PASSWORD": "Db-Password-Canary-2"}}
    settings.RAILOPS = {"ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T0/B0/Hook-Canary"}
    text = "Settings-Secret-Canary-1 Db-Password-Canary-2 services/T0/B0/Hook-Canary"
    masked = redact.mask_text(text)
    assert "Canary" not in masked


def test_logging_filter__masks_message_args_and_traceback(monkeypatch, caplog):
    monkeypatch.setenv("APP_SECRET", "Log-Record-Canary")
    caplog.set_level(logging.DEBUG, logger="railops")
    try:
        raise ValueError("bad Log-Record-Canary")
    except ValueError:
        redact.logger.exception("failed with %s", "Log-Record-Canary")
    text = caplog.text
    assert "Log-Record-Canary" not in text
    assert "failed with" in text and "ValueError" in text


@settings(max_examples=200, deadline=None)
@given(
    password=st.text(min_size=redact.MIN_SECRET_LEN, max_size=40).filter(
        lambda s: quote(s, safe="") not in "url=postgres://user:@host:5432/db"
    )
)
def test_property__any_password_in_a_url_never_survives(password):
    url = f"postgres://user:{quote(password, safe='')}@host:5432/db"
    masked = redact.mask_text(f"url={url}", secrets=[])
    assert quote(password, safe="") not in masked.replace(redact.MASK, "")


def test_webhook_url_from_the_environment__its_token_is_masked(monkeypatch):
    monkeypatch.setenv(
        "RAILOPS_ALERT_WEBHOOK_URL", "https://hooks.slack.com/services/T00/B00/Env-Hook-Canary"
    )
    masked = redact.mask_text("posting to https://hooks.slack.com/services/T00/B00/Env-Hook-Canary")
    assert "Env-Hook-Canary" not in masked
    assert "hooks.slack.com" in masked
