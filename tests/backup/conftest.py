from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from django.db import connection
from shop.models import Category, Product


@pytest.fixture
def backup_dir(tmp_path, settings):
    path = tmp_path / "backups"
    settings.RAILOPS = {"BACKUP_DIR": str(path)}
    return path


@pytest.fixture
def shop_data(transactional_db):
    """Real rows in several tables, committed (pg_dump runs in another process)."""
    for c in range(3):
        category = Category.objects.create(name=f"cat {c} ünïcode", slug=f"cat-{c}")
        Product.objects.bulk_create(
            Product(category=category, name=f"product {c}-{p} 'quoted'", price=p + 0.5, stock=p)
            for p in range(200)
        )


def user_tables() -> list[str]:
    return sorted(t for t in connection.introspection.table_names() if not t.startswith("sqlite_"))


def table_checksums() -> dict[str, tuple[int, str]]:
    """table -> (row count, md5 over its ordered rows), on either vendor."""
    out = {}
    with connection.cursor() as cursor:
        for table in user_tables():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows = sorted(repr(row) for row in cursor.fetchall())
            out[table] = (
                len(rows),
                hashlib.md5("\n".join(rows).encode(), usedforsecurity=False).hexdigest(),
            )
    return out


def drop_all_tables() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_keys = OFF")
        for table in user_tables():
            cascade = " CASCADE" if connection.vendor == "postgresql" else ""
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}{cascade}")
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_keys = ON")


def wrapper_dir(tmp_path: Path, name: str, body: str) -> Path:
    """A directory holding an executable ``name`` (a fake pg_dump and friends)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bindir


def real(binary: str) -> str:
    path = shutil.which(binary)
    assert path, f"{binary} must be installed for this test"
    return path


def make_read_only(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o500)
    # root ignores modes; the immutable flag stops it
    if os.geteuid() == 0 and (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode
    ):
        pytest.skip("running as root without chattr: cannot make a read-only directory")


def undo_read_only(path: Path) -> None:
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
    path.chmod(0o700)
