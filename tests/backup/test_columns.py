"""The column layout: exact round trips of any bytes, smaller archives of rows, damage refused,
and ``python -m railops_django unpack`` for restoring by hand."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from railops_django import backup
from railops_django.backup import columns
from railops_django.db.backup_engine import EngineError
from tests.utils import ROOT, run_command

ROW = struct.Struct("<xi")  # what pg_dump -Fc -Z0 writes before each COPY row


def encoded(
    data: bytes, framing: str = "plain", piece: int = 7, block: int = columns.BLOCK
) -> bytes:
    pieces = [data[i : i + piece] for i in range(0, len(data), piece)]
    return b"".join(columns.encode(pieces, framing, block))


def decoded(stream: bytes, piece: int = 5) -> bytes:
    return b"".join(columns.decode([stream[i : i + piece] for i in range(0, len(stream), piece)]))


def rows(count: int, seed: int = 7) -> list[bytes]:
    """COPY text rows like an app's: ids, foreign keys, timestamps, JSON, money, notes."""
    rng = random.Random(seed)
    out = []
    for i in range(1, count + 1):
        note = rng.choice(["Delivered on time.", "Card declined; retried.", "\\N"])
        out.append(
            f"{i}\t{1 + i // 25}\t{rng.choice(['view', 'click', 'purchase'])}\t"
            f'{{"ms": {rng.randint(0, 2000)}, "ref": "{rng.choice(["google", "direct"])}", '
            f'"page": "/products/{rng.randint(1, 5000)}"}}\t{note} Ref {rng.randint(0, 99999)}\t'
            f"{rng.randint(0, 50000) / 100:.2f}\t2025-01-{1 + i // 8640:02d} "
            f"{i // 360 % 24:02d}:{i // 6 % 60:02d}:{i * 10 % 60:02d}+00\n".encode()
        )
    return out


def pg_custom(lines: list[bytes]) -> bytes:
    """Rows framed as pg_dump's custom format frames them, between binary table-of-contents bytes."""
    return b"PGDMP\x01\x0e\x00\x04\x08\x01\n\t\x00" + b"".join(ROW.pack(len(r)) + r for r in lines)


binary_or_text = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.lists(st.sampled_from([b"a", b"\t", b"\n", b"\\N", b"12", b"\x00", b"\xff"])).map(
            b"".join
        ),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(
    data=binary_or_text, framing=st.sampled_from(["plain", "pg_custom"]), piece=st.integers(1, 50)
)
def test_round_trip__any_bytes_any_chunking__exact(data, framing, piece):
    # small blocks: many of them, raw ones and lines cut across blocks included
    assert decoded(encoded(data, framing, piece, block=16), piece + 3) == data


@pytest.mark.parametrize("framing", ["plain", "pg_custom"])
def test_round_trip__rows_heads_with_tabs_and_newlines_and_a_line_over_a_block__exact(framing):
    # lengths 9 and 10 put a tab and a newline into pg_dump's head; one line outgrows a block
    lines = [*rows(5000), b"x" * 8 + b"\n", b"y" * 9 + b"\n", b"\t" * 300 + b"\n"]
    lines += [b"z" * (columns.BLOCK + 10) + b"\n", *rows(50, seed=1)]
    data = pg_custom(lines) if framing == "pg_custom" else b"".join(lines)
    assert decoded(encoded(data, framing, piece=65536), piece=70000) == data


def test_round_trip__rows_of_one_table_with_items_kept_whole_among_them__exact():
    # a chunk of 10 bytes has the head 0a 00 00 00: its newline and 0 look like a row's start,
    # so that item is kept whole, among the rows of one table
    rng = random.Random(3)
    ten, others = b"a\tb\tc\td\te\n", [b"a\tbb\tc\td\te\n", b"aa\tb\tcc\td\te\n"]
    lines = [ten if rng.random() < 0.01 else rng.choice(others) for _ in range(3000)]
    data = pg_custom(lines)
    assert 5 < data.count(b"\n\x00\n\x00") < 60  # a few, in one block
    assert decoded(encoded(data, "pg_custom", piece=65536), piece=65536) == data


def reference_columns(lines: list[bytes]) -> list[bytes]:
    """The layout as the module's docstring states it, written the slow way: the runs of lines
    of one width, then each width's values column by column, the narrowest first."""
    split = [line.split(b"\t") for line in lines]
    runs: list[list[int]] = []
    for fields in split:
        if runs and runs[-1][0] == len(fields):
            runs[-1][1] += 1
        else:
            runs.append([len(fields), 1])
    header = ";".join(f"{width},{count}" for width, count in runs).encode()
    values = [
        fields[i]
        for width in sorted({len(f) for f in split})
        for i in range(width)
        for fields in split
        if len(fields) == width
    ]
    return [struct.pack(">I", len(header)) + header, b"\n".join(values)]


value = st.sampled_from([b"", b"1", b"\\N", b"ab", b"\\t", b"\x00", b"\xff\xfe", b"2025-01-01"])
lines_of_widths = st.lists(
    st.tuples(st.integers(1, 5), st.integers(1, 6)), min_size=1, max_size=6
).flatmap(
    lambda runs: st.tuples(
        *(
            st.lists(value, min_size=w, max_size=w).map(b"\t".join)
            for w, n in runs
            for _ in range(n)
        )
    ).map(list)
)


@settings(max_examples=300, deadline=None)
@given(lines=lines_of_widths)
def test_columns_of__lines_of_one_or_several_widths__exactly_the_documented_layout(lines):
    # the fast path (one width: one split, slices) and the slow one (several widths) must both
    # write what the format says, byte for byte, so that archives stay the same across versions
    assert columns._columns_of(lines) == reference_columns(lines)
    assert (
        columns._lines(
            *(part[4:] if i == 0 else part for i, part in enumerate(columns._columns_of(lines)))
        )
        == lines
    )


@pytest.mark.parametrize(
    "lines",
    [
        [b"a\tb", b"c\td", b"e"],  # widths that are not all the first one's
        [b"a", b"b\tc", b"d\te"],
        [b"\t", b"\t", b""],
        [b"a\tb\tc", b"d", b"e\tf"],
        [b"a\tb", b"c", b"d\te\tf"],  # 6 values: as many as three lines as wide as the first
        [b"a\tb", b"c\td\te", b"f"],
    ],
)
def test_columns_of__widths_that_add_up_like_one_width__not_taken_for_one(lines):
    assert columns._columns_of(lines) == reference_columns(lines)


def test_columns_of__a_line_holding_a_newline__none():
    assert columns._columns_of([b"a\tb", b"c\n\td"]) is None
    assert columns._columns_of([b"a\t\n\tb", b"c\td"]) is None


def test_rows__compress_far_smaller_than_the_plain_dump_at_the_same_level():
    data = pg_custom(rows(40000))
    level = zstandard.ZstdCompressor(level=3)
    plain = len(level.compress(data))
    in_columns = len(level.compress(encoded(data, "pg_custom", piece=65536)))
    without_framing = len(level.compress(encoded(data, "plain", piece=65536)))
    assert in_columns < 0.8 * plain, (in_columns, plain)
    # dropping pg_dump's per-row lengths is part of the gain
    assert in_columns < 0.95 * without_framing, (in_columns, without_framing)


def test_binary_without_newlines__kept_raw_and_exact():
    data = os.urandom(3 * columns.BLOCK + 5).replace(b"\n", b"n")
    stream = encoded(data, piece=65536)
    assert len(stream) < len(data) + 100  # raw blocks: a few bytes of framing each
    assert decoded(stream, piece=65536) == data


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda s: s[:-5], "cut short"),
        (lambda s: s[:10], "before its header"),
        (lambda s: b"X" + s[1:], "does not start with"),
        (lambda s: s + b"R\x00\x00\x00\x00", "follow its end"),
        (lambda s: s[: len(columns.MAGIC)] + b"\x07" + s[len(columns.MAGIC) + 1 :], "framing"),
        (lambda s: s.replace(b"1,3", b"1,x", 1), "bad header"),
        (lambda s: s.replace(b"1,3", b"1,4", 1), "do not add up"),
        (lambda s: s.replace(b"C\x00", b"Q\x00", 1), "unknown block kind"),
        (lambda s: s[: len(columns.MAGIC) + 1] + b"C\xff\xff\xff\xff", "longer than any"),
    ],
)
def test_damaged_stream__engine_error_names_the_damage(damage, needle):
    stream = encoded(b"a\nb\nc\n")  # one block of 3 lines of 1 field: header "1,3"
    assert b"1,3" in stream
    with pytest.raises(EngineError, match=needle):
        decoded(damage(stream))


def test_unpacked__plain_dump__passes_through_untouched():
    data = b"PGDMP plain dump\n"
    assert b"".join(columns.unpacked([data[:3], data[3:]])) == data


def unpack(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "railops_django", "unpack", *map(str, args)],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        timeout=60,
    )


@pytest.mark.postgres
@pytest.mark.parametrize("layout", ["columns", "plain"])
def test_pg_dump_archive__unpack_gives_what_pg_restore_reads(
    backup_dir, shop_data, settings, tmp_path, layout
):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_LAYOUT": layout}
    result = backup.create("default", "manual")
    dump = result.manifest["dump"]
    assert dump["layout"] == ("columns-1" if layout == "columns" else "plain")
    archive = backup_dir / dump["file"]
    with archive.open("rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as reader:
        head = reader.read(64)
    assert head.startswith(columns.MAGIC if layout == "columns" else b"PGDMP")
    out = tmp_path / "by-hand.dump"
    proc = unpack(archive, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size == dump["raw_bytes"]
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    listing = subprocess.run(
        ["pg_restore", "--list", str(out)], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE DATA public shop_product" in listing


@pytest.mark.sqlite
def test_sqlite_archive__a_database_file__stays_plain(backup_dir, shop_data, tmp_path):
    result = backup.create("default", "manual")
    assert result.manifest["dump"]["layout"] == "plain"
    out = tmp_path / "db.sqlite3"
    assert unpack(backup_dir / result.manifest["dump"]["file"], "-o", out).returncode == 0
    assert out.read_bytes().startswith(b"SQLite format 3\x00")


def test_unpack__bad_input__exit_3_and_damage_exit_2_leaving_no_file(tmp_path):
    out = tmp_path / "out.dump"
    missing = unpack(tmp_path / "nope.zst", "-o", out)
    assert missing.returncode == 3
    assert b"no such file" in missing.stderr
    archive = tmp_path / "cut.zst"
    full = zstandard.ZstdCompressor().compress(encoded(b"a\tb\n" * 1000))
    archive.write_bytes(full[: len(full) // 2])
    damaged = unpack(archive, "-o", out)
    assert damaged.returncode == 2, damaged.stderr
    assert not out.exists()
    out.write_bytes(b"keep me")
    archive.write_bytes(full)
    exists = unpack(archive, "-o", out)
    assert exists.returncode == 3
    assert out.read_bytes() == b"keep me"
    assert unpack(archive).stdout == b"a\tb\n" * 1000


def test_archive_from_before_the_layout__no_layout_in_its_manifest__verifies_as_plain(
    backup_dir, shop_data, settings
):
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_LAYOUT": "plain"}
    result = backup.create("default", "manual")
    manifest_path = backup_dir / f"{result.name}.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["dump"]["layout"]  # what railops wrote before the column layout
    manifest_path.write_text(json.dumps(manifest))
    out, err, code = run_command("backup", "verify", "--latest", "--format", "json")
    assert code == 0, out + err


@pytest.mark.postgres
def test_pg_dump_archive__large_objects_bytea_and_escaped_text__restore_exactly(
    backup_dir, transactional_db
):
    # binary large objects and bytea are where pg_dump's stream is least like text rows
    checksum = (
        "SELECT count(*), md5(string_agg(md5(lo_get(o)) || md5(b) || md5(t), ',' ORDER BY id)) "
        "FROM railops_blobs"
    )
    rng = random.Random(5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE railops_blobs (id int PRIMARY KEY, o oid, b bytea, t text)"
            )
            for i in range(60):
                cursor.execute(
                    "INSERT INTO railops_blobs VALUES (%s, lo_from_bytea(0, %s), %s, %s)",
                    [i, rng.randbytes(20000), rng.randbytes(3000), "tab\there\nnewline \\ " * 20],
                )
            cursor.execute(checksum)
            before = cursor.fetchone()
        result = backup.create("default", "manual")
        assert result.manifest["dump"]["layout"] == "columns-1"
        with connection.cursor() as cursor:
            cursor.execute("SELECT lo_unlink(o) FROM railops_blobs")
            cursor.execute("DROP TABLE railops_blobs")
        out, err, code = run_command("backup", "restore", "--latest", "--noinput", "--force")
        assert code == 0, out + err
        with connection.cursor() as cursor:  # the restore closed the connection
            cursor.execute(checksum)
            assert cursor.fetchone() == before
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
            cursor.execute("DROP TABLE IF EXISTS railops_blobs")
