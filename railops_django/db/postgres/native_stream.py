"""The framing of the native engine's stream: records that a reader finds without seeking.

A stream is ``MAGIC`` followed by records. Each record is one kind byte, a 4-byte big-endian
payload length, then the payload:

- ``H`` header (JSON): format, server version, snapshot, migrations, sequences;
- ``T`` table start (JSON): ``{"table": ..., "columns": [...]}``;
- ``D`` data: a chunk of that table's ``COPY ... TO STDOUT`` text output (at most ``CHUNK``
  bytes, always whole rows);
- ``E`` table end (JSON): ``{"table": ..., "rows": n}``;
- ``Z`` trailer (JSON): ``{"tables": n, "rows": n}``. A stream without it was cut short.

Length-prefixed chunks let a reader pass the rows to ``COPY ... FROM STDIN`` as they arrive,
with memory bounded by one chunk, and detect truncation or corruption at the record boundary.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

MAGIC = b"RAILOPS-NATIVE-1\n"
CHUNK = 1 << 20  # 1 MiB of rows per data record
_LENGTH = struct.Struct(">I")

HEADER, TABLE, DATA, END, TRAILER = b"H", b"T", b"D", b"E", b"Z"
_KINDS = {HEADER, TABLE, DATA, END, TRAILER}


class Writable(Protocol):
    def write(self, data: bytes | bytearray, /) -> object: ...


class StreamError(Exception):
    """The stream is not a native-engine stream, is corrupt, or was cut short."""


def write_magic(out: Writable) -> None:
    out.write(MAGIC)


def write_record(out: Writable, kind: bytes, payload: bytes | bytearray) -> None:
    out.write(kind + _LENGTH.pack(len(payload)))
    out.write(payload)


def write_json(out: Writable, kind: bytes, value: dict[str, Any]) -> None:
    write_record(out, kind, json.dumps(value, sort_keys=True).encode())


def _read_exact(inp: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        part = inp.read(remaining)
        if not part:
            raise StreamError(f"the stream ends {remaining} bytes early: the backup was cut short")
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def read_magic(inp: BinaryIO) -> None:
    head = inp.read(len(MAGIC))
    if head != MAGIC:
        raise StreamError("this is not a railops native-engine stream (wrong magic bytes)")


def read_record(inp: BinaryIO) -> tuple[bytes, bytes]:
    """The next ``(kind, payload)``; StreamError at a premature end or an unknown kind."""
    head = inp.read(5)
    if not head:
        raise StreamError("the stream ends before its trailer: the backup was cut short")
    if len(head) < 5:
        head += _read_exact(inp, 5 - len(head))
    kind = head[:1]
    if kind not in _KINDS:
        raise StreamError(f"corrupt stream: unknown record kind {kind!r}")
    (length,) = _LENGTH.unpack(head[1:])
    if kind == DATA and length > CHUNK * 4:
        raise StreamError(f"corrupt stream: a data record claims {length} bytes")
    return kind, _read_exact(inp, length)


def decode_json(kind: bytes, payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # nested past the recursion limit
        raise StreamError(f"corrupt stream: record {kind!r} is not JSON") from exc
    if not isinstance(value, dict):
        raise StreamError(f"corrupt stream: record {kind!r} is not an object")
    return value


def expect_json(inp: BinaryIO, kind: bytes) -> dict[str, Any]:
    got, payload = read_record(inp)
    if got != kind:
        raise StreamError(f"corrupt stream: expected record {kind!r}, found {got!r}")
    return decode_json(got, payload)


def table_chunks(inp: BinaryIO, table: str) -> Iterator[bytes]:
    """Yield ``table``'s data records up to its end record; checks the end names the table."""
    while True:
        kind, payload = read_record(inp)
        if kind == DATA:
            yield payload
            continue
        if kind != END:
            raise StreamError(f"corrupt stream: {kind!r} inside the data of {table}")
        end = decode_json(kind, payload)
        if end.get("table") != table:
            raise StreamError(f"corrupt stream: the data of {table} ends as {end.get('table')}")
        return
