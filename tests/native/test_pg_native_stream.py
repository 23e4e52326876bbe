"""The stream framing, without a database."""

from __future__ import annotations

import io

import pytest
from django.db import connections

from railops_django.db.postgres import native as pg_native
from railops_django.db.postgres import native_stream as stream


def _stream(*records: tuple[bytes, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    stream.write_magic(out)
    for kind, payload in records:
        stream.write_record(out, kind, payload)
    out.seek(0)
    return out


def test_table_chunks__data_then_end__yields_each_chunk_in_order():
    inp = _stream(
        (stream.DATA, b"1\ta\n"),
        (stream.DATA, b"2\tb\n"),
        (stream.END, b'{"table": "t", "rows": 2}'),
    )
    stream.read_magic(inp)
    assert list(stream.table_chunks(inp, "t")) == [b"1\ta\n", b"2\tb\n"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PGDMP custom", "not a railops native-engine stream"),
        (stream.MAGIC, "cut short"),
        (stream.MAGIC + b"D\x00\x00\x00\x10abc", "cut short"),
        (stream.MAGIC + b"Q\x00\x00\x00\x00", "unknown record kind"),
        (stream.MAGIC + b"D\xff\xff\xff\xff", "claims"),
        (stream.MAGIC + b"H\x00\x00\x00\x03abc", "not JSON"),
    ],
)
def test_reader__damaged_stream__stream_error_says_what(data, message):
    def read_all(inp: io.BytesIO) -> None:
        stream.read_magic(inp)
        stream.expect_json(inp, stream.HEADER)
        list(stream.table_chunks(inp, "t"))

    with pytest.raises(stream.StreamError, match=message):
        read_all(io.BytesIO(data))


def test_table_chunks__end_names_another_table__stream_error():
    inp = _stream((stream.END, b'{"table": "other", "rows": 0}'))
    stream.read_magic(inp)
    with pytest.raises(stream.StreamError, match="ends as other"):
        list(stream.table_chunks(inp, "t"))


@pytest.mark.postgres  # the parameters come from Django's PostgreSQL backend
def test_connect_kwargs__password_is_a_keyword_and_django_options_are_dropped(monkeypatch):
    settings_dict = {
        **connections["default"].settings_dict,
        "NAME": "shop",
        "USER": "app",
        "PASSWORD": "canary-pw-4821",
        "HOST": "db.example",
        "PORT": 5433,
        "OPTIONS": {"sslmode": "require", "isolation_level": 1, "pool": True},
    }
    monkeypatch.setattr(connections["default"], "settings_dict", settings_dict)
    kwargs = pg_native.connect_kwargs("default")
    assert kwargs["password"] == "canary-pw-4821"
    assert kwargs["dbname"] == "shop" and kwargs["port"] == "5433"
    assert kwargs["sslmode"] == "require"
    assert "isolation_level" not in kwargs and "pool" not in kwargs
    assert "canary-pw-4821" not in kwargs["options"]
    assert "-c TimeZone=UTC" in kwargs["options"] and "-c DateStyle=ISO" in kwargs["options"]


def test_decode_json__nested_past_the_recursion_limit__stream_error():
    with pytest.raises(stream.StreamError, match="is not JSON"):
        stream.decode_json(stream.HEADER, b"[" * 100_000 + b"]" * 100_000)
