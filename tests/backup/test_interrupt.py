"""Ctrl-C (SIGINT) during backup create and restore: one line, exit 130, no traceback, and a
progress line that does not say "(done)"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backup.test_concurrency import manage_env
from tests.utils import EXAMPLE

pytestmark = pytest.mark.django_db(transaction=True)

# Runs manage.py with every progress update of SLOW_LABEL ("dumped", "restored") slowed down,
# and says on stderr once the stream has
# started: the test sends SIGINT then, in the middle of the dump or the restore.
_SLOW = """
    import os, runpy, sys, time
    from railops_django import render
    real = render.Progress.bytes
    def slow(self, done, label="", total=None):
        real(self, done, label, total)
        if os.environ["SLOW_LABEL"] not in label:
            return
        if not getattr(slow, "said", False):
            slow.said = True
            sys.stderr.write("railops-test: streaming\\n")
            sys.stderr.flush()
        time.sleep(0.5)
    render.Progress.bytes = slow
    sys.argv = [sys.argv[1], *sys.argv[2:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _interrupted(tmp_path: Path, backup_dir: Path, label: str, *args: str) -> tuple[int, str]:
    script = tmp_path / "slow_manage.py"
    script.write_text(textwrap.dedent(_SLOW))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(EXAMPLE / "manage.py"), *args,
         "--settings", "tests.settings"],
        env=manage_env(backup_dir, SLOW_LABEL=label),
        cwd=EXAMPLE,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("railops-test: streaming"):
            break
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: pg_dump or pg_restore get it too
    _, rest = proc.communicate(timeout=60)
    return proc.returncode, "".join(seen) + rest


def _files(backup_dir: Path) -> set[str]:
    return {p.name for p in backup_dir.iterdir() if not p.name.startswith(".")}


def test_backup_create__sigint_mid_dump__one_line_exit_130_no_backup_left(tmp_path, shop_data):
    backup_dir = tmp_path / "backups"
    code, err = _interrupted(tmp_path, backup_dir, "dumped", "backup", "create")
    assert code == 130, err
    assert "Traceback" not in err and "(done)" not in err, err
    assert err.strip().splitlines()[-1].startswith("backup: interrupted"), err
    cleanup = subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "backup", "cleanup", "--format", "json",
         "--settings", "tests.settings"],
        env=manage_env(backup_dir), cwd=EXAMPLE, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert json.loads(cleanup.stdout)
    assert not backup_dir.exists() or not {
        f for f in _files(backup_dir) if f.endswith((".zst", ".json"))
    }, _files(backup_dir)


def test_backup_restore__sigint_mid_restore__one_line_exit_130_no_traceback(tmp_path, shop_data):
    backup_dir = tmp_path / "backups"
    created = subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "backup", "create",
         "--settings", "tests.settings"],
        env=manage_env(backup_dir), cwd=EXAMPLE, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    from shop.models import Product

    Product.objects.update(stock=424242)  # what the interrupted restore must leave alone
    code, err = _interrupted(
        tmp_path, backup_dir, ": restored", "backup", "restore", "--latest", "--noinput"
    )
    assert code == 130, err
    assert "Traceback" not in err and "(done)" not in err, err
    assert err.strip().splitlines()[-1].startswith("backup: interrupted"), err
    # Mid-load: the line says the transaction is rolled back, and the rows are as before.
    assert "rolled back: the database holds what it held before" in err, err
    assert set(Product.objects.values_list("stock", flat=True)) == {424242}
