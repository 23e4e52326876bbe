"""Benchmark: the native engine against pg_dump / pg_restore on the same database, in one run.

    python bench/native_bench.py                 # >= 500 MB, the figures in bench/README.md
    python bench/native_bench.py --size-mb 50    # a quick run

It creates ``railops_native_bench_<pid>`` on 127.0.0.1 (PG* environment variables override),
migrates example_project into it, fills example_project's own tables with generated rows (text,
numbers, timestamps, JSON in django_admin_log) until the database reaches ``--size-mb``, then
measures, each in its own child process so peak RSS is that step's alone:

- ``pg_dump -Fc`` to a file (what users run today);
- the pg_dump engine's shape: ``pg_dump -Fc -Z0`` piped through zstd + sha256 in Python;
- the native engine: ``pg_native.dump`` through zstd + sha256;
- restores into empty databases: ``pg_restore --single-transaction`` of the -Fc file, and
  ``pg_native.restore`` (migrations + COPY) of the native archive;
- the product itself: ``manage.py backup create`` with ``RAILOPS_BACKUP_ENGINE=pg_dump`` and
  with ``native`` (the archive's own zstd settings, sha256, storage and manifest), whose peak
  RSS is the largest of that command's processes.

Every database it creates is dropped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
PG = {
    "host": os.environ.get("PGHOST", "127.0.0.1"),
    "port": os.environ.get("PGPORT", "5432"),
    "user": os.environ.get("PGUSER", "postgres"),
}


def url(db: str) -> str:
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{db}"


def pg_env() -> dict[str, str]:
    # The password (if any) stays in PGPASSWORD, never on argv.
    return {**os.environ, "PGHOST": PG["host"], "PGPORT": PG["port"], "PGUSER": PG["user"]}


def admin(sql: str, db: str = "postgres") -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(
        host=PG["host"], port=PG["port"], user=PG["user"], dbname=db, autocommit=True
    ) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class HashingWriter:
    """A write-only file that hashes what it writes (the archive's sha256)."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def compressed_writer(path: Path, level: int) -> tuple[Any, HashingWriter, BinaryIO]:
    import zstandard

    raw = path.open("wb")
    hashed = HashingWriter(raw)
    writer = zstandard.ZstdCompressor(level=level, threads=THREADS).stream_writer(
        hashed, closefd=False
    )
    return writer, hashed, raw


# -- child processes (each step measured alone) -----------------------------------------------


def setup_django(db: str) -> None:
    os.environ["DATABASE_URL"] = url(db)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path[:0] = [str(EXAMPLE), str(ROOT)]
    import django

    django.setup()


def child_native_dump(db: str, archive: Path, info_path: Path, level: int, workers: int) -> dict:
    setup_django(db)
    from railops_django.db.postgres import native as pg_native

    started = time.perf_counter()
    writer, hashed, raw = compressed_writer(archive, level)
    info = pg_native.dump("default", writer, workers=workers)
    writer.close()
    raw.close()
    seconds = time.perf_counter() - started
    info_path.write_text(json.dumps(info))
    return {"seconds": seconds, "rss_mb": peak_rss_mb(), "bytes": hashed.size}


def child_pgdump_engine(db: str, archive: Path, level: int) -> dict:
    started = time.perf_counter()
    writer, hashed, raw = compressed_writer(archive, level)
    with subprocess.Popen(
        ["pg_dump", "-Fc", "-Z0", "-d", db], stdout=subprocess.PIPE, env=pg_env()
    ) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            writer.write(chunk)
    writer.close()
    raw.close()
    if proc.returncode:
        raise SystemExit(f"pg_dump failed with {proc.returncode}")
    return {
        "seconds": time.perf_counter() - started,
        "rss_mb": peak_rss_mb(),
        "bytes": hashed.size,
    }


def child_native_restore(db: str, archive: Path, info_path: Path) -> dict:
    setup_django(db)
    import zstandard

    from railops_django.db.postgres import native as pg_native

    info = json.loads(info_path.read_text())
    started = time.perf_counter()
    with archive.open("rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        summary = pg_native.restore("default", reader, info)
    return {"seconds": time.perf_counter() - started, "rss_mb": peak_rss_mb(), **summary}


def run_child(*args: str) -> dict:
    options = ["--level", str(LEVEL), "--workers", str(WORKERS), "--zstd-threads", str(THREADS)]
    result = subprocess.run(
        [sys.executable, __file__, *options, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        env=pg_env(),
    )
    if result.returncode:
        raise SystemExit(f"child {args[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def child_backup_create(db: str, engine: str, backup_dir: Path) -> dict:
    result = backup_create(db, engine, backup_dir)
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def child_exec(argv: list[str]) -> dict:
    """Run a client tool; its wall time and peak RSS (this child waits only for it)."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, env=pg_env(), stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "rss_mb": rss}


def timed(argv: list[str]) -> dict:
    return run_child("exec", *argv)


def backup_create(db: str, engine: str, backup_dir: Path) -> dict:
    """``manage.py backup create`` with one engine, as a user runs it."""
    env = {
        **pg_env(),
        "DATABASE_URL": url(db),
        "RAILOPS_BACKUP_ENGINE": engine,
        "RAILOPS_BACKUP_DIR": str(backup_dir),
    }
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "backup", "create", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"backup create ({engine}) failed:\n{proc.stdout[-2000:]}")
    (manifest,) = [p for p in backup_dir.glob("*.json") if not p.name.startswith(".")]
    size = json.loads(manifest.read_text())["dump"]["bytes"]
    shutil.rmtree(backup_dir)
    return {"seconds": seconds, "bytes": size}


# -- data ----------------------------------------------------------------------------------------

# zstd worker threads for both engines' archives. Multi-threaded zstd holds ~40 MB of job
# buffers; single-threaded (0) ~7 MB and is fast enough on 2 cores (set with --zstd-threads).
THREADS = 0
LEVEL = 3
WORKERS = 1

BATCH = 50_000  # products per batch; the other tables scale with it

FILL = f"""
INSERT INTO shop_product (category_id, name, price, created_at, stock)
SELECT 1 + (i % 50),
       'Product ' || i || ' ' || md5(i::text) || ' '
           || repeat(substr(md5((i * 7)::text), 1, 16), 4),
       round((random() * 1000)::numeric, 2),
       now() - (i % 100000) * interval '37 minutes',
       (i * 13) % 5000
FROM generate_series({{p0}} + 1, {{p0}} + {BATCH}) i;

INSERT INTO orders_order (customer_email, status, created_at)
SELECT 'customer' || i || '@example.com', (ARRAY['new', 'paid', 'shipped'])[1 + i % 3],
       now() - (i % 50000) * interval '11 minutes'
FROM generate_series({{o0}} + 1, {{o0}} + {BATCH}) i;

INSERT INTO orders_orderitem (order_id, product_id, quantity)
SELECT {{o0}} + 1 + (i % {BATCH}), {{p0}} + 1 + ((i * 7) % {BATCH}), 1 + i % 9
FROM generate_series(1, {BATCH * 3}) i;

INSERT INTO django_admin_log
    (action_time, user_id, content_type_id, object_id, object_repr, action_flag, change_message)
SELECT now() - i * interval '1 minute', 1, {{ct}}, ({{p0}} + 1 + i % {BATCH})::text,
       'Product ' || i,
       1 + i % 3,
       json_build_object('changed', json_build_object(
           'fields', json_build_array('name', 'price', 'stock'),
           'old', json_build_object('price', i % 997, 'note', md5(i::text)),
           'at', now()))::text
FROM generate_series(1, {BATCH // 2}) i;
"""


def generate(db: str, size_mb: int) -> dict:
    admin(
        "INSERT INTO shop_category (name, slug) SELECT 'Category ' || i, 'category-' || i "
        "FROM generate_series(4, 60) i",
        db,
    )
    admin(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) VALUES ('!', true, 'bench', 'Bénch', 'Ünïcode', "
        "'bench@example.com', true, true, now())",
        db,
    )
    content_type = admin(
        "SELECT id FROM django_content_type WHERE app_label = 'shop' AND model = 'product'", db
    )[0][0]
    started = time.perf_counter()
    while admin(f"SELECT pg_database_size('{db}')", db)[0][0] < size_mb * 1024 * 1024:
        p0 = admin("SELECT coalesce(max(id), 0) FROM shop_product", db)[0][0]
        o0 = admin("SELECT coalesce(max(id), 0) FROM orders_order", db)[0][0]
        admin(FILL.format(p0=p0, o0=o0, ct=content_type), db)
    admin("VACUUM ANALYZE", db)
    size = admin(f"SELECT pg_database_size('{db}')", db)[0][0]
    rows = admin(
        "SELECT (SELECT count(*) FROM shop_product) + (SELECT count(*) FROM orders_order) + "
        "(SELECT count(*) FROM orders_orderitem) + (SELECT count(*) FROM django_admin_log)",
        db,
    )[0][0]
    return {"size_mb": size / 1024 / 1024, "rows": rows, "seconds": time.perf_counter() - started}


def migrate(db: str) -> None:
    env = {**pg_env(), "DATABASE_URL": url(db)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "migrate", "--noinput", "-v0"],
        check=True,
        env=env,
        cwd=EXAMPLE,
    )


def fresh(db: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{db}"')


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500, help="database size to generate")
    parser.add_argument("--workers", type=int, default=1, help="native dump workers")
    parser.add_argument("--level", type=int, default=3, help="zstd level")
    parser.add_argument("--zstd-threads", type=int, default=0, help="zstd threads (-1: all)")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global THREADS, LEVEL, WORKERS
    THREADS, LEVEL, WORKERS = args.zstd_threads, args.level, args.workers

    if args.child:
        step, *rest = args.child
        if step == "native-dump":
            result = child_native_dump(
                rest[0], Path(rest[1]), Path(rest[2]), args.level, int(rest[3])
            )
        elif step == "exec":
            result = child_exec(rest)
        elif step == "pgdump-engine":
            result = child_pgdump_engine(rest[0], Path(rest[1]), args.level)
        elif step == "backup-create":
            result = child_backup_create(rest[0], rest[1], Path(rest[2]))
        else:
            result = child_native_restore(rest[0], Path(rest[1]), Path(rest[2]))
        print(json.dumps(result))
        return

    import tempfile

    tag = os.getpid()
    source, target_pg, target_native = (
        f"railops_native_bench_{tag}",
        f"railops_native_bench_{tag}_pgr",
        f"railops_native_bench_{tag}_nr",
    )
    work = Path(tempfile.mkdtemp(prefix="railops-native-bench-"))
    results: dict[str, dict] = {}
    try:
        fresh(source)
        migrate(source)
        data = generate(source, args.size_mb)
        print(
            f"database: {data['size_mb']:.0f} MB, {data['rows']:,} rows "
            f"(generated in {data['seconds']:.0f} s)",
            flush=True,
        )
        fc = work / "dump.fc"
        results["pg_dump -Fc"] = timed(["pg_dump", "-Fc", "-d", source, "-f", str(fc)])
        results["pg_dump -Fc"]["bytes"] = fc.stat().st_size
        results["pg_dump engine"] = run_child("pgdump-engine", source, str(work / "engine.zst"))
        info = work / "info.json"
        results["native"] = run_child(
            "native-dump", source, str(work / "native.zst"), str(info), "1"
        )
        results["native"]["bytes"] = (work / "native.zst").stat().st_size
        if WORKERS > 1:
            name = f"native -j{WORKERS}"
            archive = work / "native-j.zst"
            results[name] = run_child(
                "native-dump", source, str(archive), str(work / "info-j.json"), str(WORKERS)
            )
            results[name]["bytes"] = archive.stat().st_size
        for engine in ("pg_dump", "native"):
            backups = work / f"backups-{engine}"
            backups.mkdir()
            results[f"backup create {engine}"] = run_child(
                "backup-create", source, engine, str(backups)
            )
        fresh(target_pg)
        results["pg_restore"] = timed(
            [
                "pg_restore",
                "--single-transaction",
                "--no-owner",
                "--no-privileges",
                "-d",
                target_pg,
                str(fc),
            ]
        )
        fresh(target_native)
        results["native restore"] = run_child(
            "native-restore", target_native, str(work / "native.zst"), str(info)
        )
    finally:
        for db in (source, target_pg, target_native):
            admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'step':<24}{'seconds':>9}{'peak RSS MB':>13}{'size MB':>9}")
    for name, result in results.items():
        size = f"{result['bytes'] / 1024 / 1024:>9.1f}" if "bytes" in result else f"{'':>9}"
        print(f"{name:<24}{result['seconds']:>9.1f}{result['rss_mb']:>13.1f}{size}")
    native, fc_run, engine = results["native"], results["pg_dump -Fc"], results["pg_dump engine"]
    print(
        f"native create / pg_dump -Fc: {ratio(native['seconds'], fc_run['seconds'])} time, "
        f"{ratio(native['bytes'], fc_run['bytes'])} size; "
        f"native create / pg_dump engine: {ratio(native['seconds'], engine['seconds'])} time; "
        + "".join(
            f"{name} / pg_dump engine: {ratio(r['seconds'], engine['seconds'])} time "
            f"(peak RSS {r['rss_mb']:.0f} MB); "
            for name, r in results.items()
            if name.startswith("native -j")
        )
        + "backup create native / pg_dump engine: "
        + ratio(
            results["backup create native"]["seconds"],
            results["backup create pg_dump"]["seconds"],
        )
        + " time; "
        + f"native restore / pg_restore: "
        f"{ratio(results['native restore']['seconds'], results['pg_restore']['seconds'])} time; "
        f"native peak RSS {native['rss_mb']:.0f} MB create, "
        f"{results['native restore']['rss_mb']:.0f} MB restore"
    )


if __name__ == "__main__":
    main()
