"""Progress of create, verify and restore: bytes of an estimated total, rate and ETA, redrawn on
a terminal; a plain line every 10 s (and one at the end) without one; nothing with JSON."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys

import pytest

from railops_django import render
from tests.backup.test_concurrency import manage_env
from tests.utils import EXAMPLE

MIB = 1_048_576


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain__a_line_every_ten_seconds_and_one_at_the_end_with_total_rate_and_eta():
    clock, out = _Clock(), io.StringIO()
    progress = render.Progress(out, enabled=True, clock=clock)
    for second in range(1, 26):
        clock.now += 1
        progress.bytes(second * MIB, "dumped", 50 * MIB)
    progress.done()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines  # at 10 s, 20 s, and done
    assert lines[0] == "dumped 10.0 of ~50.0 MiB (20 %), 1.0 MiB/s, ETA 40s, 10s"
    assert lines[1].startswith("dumped 20.0 of ~50.0 MiB (40 %)")
    assert lines[2] == "dumped 25.0 of ~50.0 MiB (50 %), 1.0 MiB/s, ETA 25s, 25s (done)"
    assert "\r" not in out.getvalue()


def test_tty__redrawn_in_place_at_most_four_times_a_second():
    clock, out = _Clock(), _Tty()
    progress = render.Progress(out, clock=clock)
    assert progress.enabled  # a terminal: on by default
    for step in range(1, 11):
        clock.now += 0.1
        progress.bytes(step * MIB, "restored", 10 * MIB)
    progress.done()
    text = out.getvalue()
    assert text.count("\r") == 4  # three redraws (0.3, 0.6, 0.9 s) and the final figures
    assert "ETA" in text and text.endswith("(100 %), 10.0 MiB/s, 1s\n")


def test_unknown_total__bytes_and_rate_only():
    clock, out = _Clock(), io.StringIO()
    progress = render.Progress(out, enabled=True, clock=clock)
    clock.now += 12
    progress.bytes(6 * MIB, "dumped")
    assert out.getvalue() == "dumped 6.0 MiB, 512.0 KiB/s, 12s\n"


def test_disabled__nothing_written():
    out = io.StringIO()
    progress = render.Progress(out, enabled=False)
    with progress.active():
        current = render.current_progress()
        assert current is progress
        current.bytes(5 * MIB, "restored", 10 * MIB)
    assert out.getvalue() == ""


def _manage(backup_dir, *args, stderr=subprocess.PIPE):
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), *args, "--settings", "tests.settings"],
        env=manage_env(backup_dir),
        cwd=EXAMPLE,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_on_a_pipe__create_verify_restore_print_plain_progress_and_json_none(tmp_path):
    backup_dir = tmp_path / "backups"
    first = _manage(backup_dir, "backup", "create")
    assert first.returncode == 0, first.stderr
    lines = [ln for ln in first.stderr.splitlines() if ln.startswith("dumped ")]
    assert (
        len(lines) == 1
        and lines[0].endswith("(done)")
        and re.search(r"\d (B|KiB|MiB|GiB)/s", lines[0])
    )
    second = _manage(backup_dir, "backup", "create")  # now with the first as its estimate
    assert " of ~" in second.stderr and "(done)" in second.stderr
    verify = _manage(backup_dir, "backup", "verify", "--latest", "--restore-test")
    assert verify.returncode == 0, verify.stderr
    assert ": checked " in verify.stderr and ": restore test " in verify.stderr
    assert "(100 %)" in verify.stderr  # the archive's size is known exactly
    restore = _manage(backup_dir, "backup", "restore", "--latest", "--noinput")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert ": restored " in restore.stderr and "(done)" in restore.stderr
    quiet = _manage(backup_dir, "backup", "verify", "--latest", "--format", "json")
    assert quiet.stderr.strip() == "", quiet.stderr
    assert '"command"' in quiet.stdout


@pytest.mark.django_db(transaction=True)
def test_on_a_pseudo_terminal__create_redraws_one_line(tmp_path):
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLE / "manage.py"), "backup", "create",
             "--settings", "tests.settings"],
            env={**manage_env(tmp_path / "backups"), "TERM": "dumb"},
            cwd=EXAMPLE,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        )  # fmt: skip
        os.close(slave)
        seen = b""
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        proc.wait(timeout=60)
        assert proc.returncode == 0
    finally:
        os.close(master)
    text = seen.decode("utf-8", "replace")
    assert "\rdumped " in text and re.search(r"\d (B|KiB|MiB|GiB)/s", text), text
    assert "(done)" not in text  # a terminal line is redrawn, not repeated


def test_small_sizes__counted_in_the_unit_they_read_in():
    clock, out = _Clock(), io.StringIO()
    progress = render.Progress(out, enabled=True, clock=clock)
    clock.now += 10
    progress.bytes(20 * 1024, "restored", 40 * 1024)
    clock.now += 10
    progress.bytes(900, "dumped")
    assert out.getvalue().splitlines() == [
        "restored 20.0 of ~40.0 KiB (50 %), 2.0 KiB/s, ETA 10s, 10s",
        "dumped 900.0 B, 45.0 B/s, 20s",
    ]


@pytest.mark.parametrize(
    ("error", "outcome"), [(KeyboardInterrupt, "interrupted"), (RuntimeError, "failed")]
)
def test_active__stream_stopped_by_an_exception__line_says_how_not_done(error, outcome):
    clock, out = _Clock(), io.StringIO()
    progress = render.Progress(out, enabled=True, clock=clock)
    clock.now += 1

    def stream() -> None:
        with progress.active():
            progress.bytes(MIB, "restored", 10 * MIB)
            raise error

    with pytest.raises(error):
        stream()
    assert out.getvalue().endswith(f", 1s ({outcome})\n") and "(done)" not in out.getvalue()
