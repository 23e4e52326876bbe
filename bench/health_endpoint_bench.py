"""railops/health/ under load, side by side with a plain ``HttpResponse("ok")`` view.

    python bench/health_endpoint_bench.py                       # example_project on SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/railops_hep_bench \
        python bench/health_endpoint_bench.py

Migrates example_project, starts it under gunicorn on 127.0.0.1 (``--workers 2 --threads 2``,
as example_project's railway.json), and drives ``--clients`` concurrent keep-alive clients
against ``/railops/health/`` and against a plain view added by a bench-only URLconf, in
alternating rounds (``--rounds`` of ``--seconds`` each per target), so both see the same machine.
Prints requests, errors, p50 and p99 latency of each and the ratios. Loopback only; bounded in
time; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
HOST = "127.0.0.1"
URLS = """
from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urls

def plain(request):
    return HttpResponse("ok")

urlpatterns = [path("bench-plain/", plain), *project_urls]
"""
SETTINGS = """
from config.settings import *  # noqa: F403
ROOT_URLCONF = "bench_urls"
"""


async def _client(
    port: int, path: str, until: float, latencies: list[float], errors: list[str]
) -> None:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: healthcheck.railway.app\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    reader = writer = None
    while time.perf_counter() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            assert reader is not None
            status_line = await reader.readline()
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    close = True
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = status_line.split()[1:2]
            if status != [b"200"]:
                errors.append(status_line.decode("latin-1").strip() or "no status line")
            if close:
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            errors.append(type(exc).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def _round(
    port: int, path: str, clients: int, seconds: float
) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    until = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, path, until, latencies, errors) for _ in range(clients)))
    return latencies, errors


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per target (alternating)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="railops-hep-bench-"))
    (work / "bench_urls.py").write_text(URLS)
    (work / "bench_settings.py").write_text(SETTINGS)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": os.pathsep.join([str(work), str(EXAMPLE), str(ROOT)]),
        "DEBUG": "False",
        "SECURE_SSL_REDIRECT": "False",
        "RAILOPS_BACKUP_DIR": str(work / "backups"),
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{work / 'bench.sqlite3'}")
    subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "migrate", "--noinput", "-v0"],
        env=env,
        check=True,
    )
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            "2",
            "--threads",
            "2",
            "--chdir",
            str(EXAMPLE),
            "--log-level",
            "warning",
            "--backlog",
            "512",
        ],
        env=env,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{HOST}:{port}/bench-plain/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        targets = {"plain view": "/bench-plain/", "railops/health/": "/railops/health/"}
        results: dict[str, tuple[list[float], list[str]]] = {t: ([], []) for t in targets}
        asyncio.run(_round(port, "/railops/health/", 4, 1.0))  # warm-up: the cached checks
        for _ in range(args.rounds):
            for name, path in targets.items():
                latencies, errors = asyncio.run(_round(port, path, args.clients, args.seconds))
                results[name][0].extend(latencies)
                results[name][1].extend(errors)
    finally:
        server.terminate()
        server.wait(timeout=20)
    vendor = "postgres" if env["DATABASE_URL"].startswith("postgres") else "sqlite"
    total = args.rounds * args.seconds
    print(
        f"example_project on {vendor}, gunicorn --workers 2 --threads 2, {args.clients} clients, "
        f"{args.rounds} alternating rounds of {args.seconds:g} s per target ({total:g} s each):"
    )
    figures = {}
    for name, (latencies, errors) in results.items():
        p50, p99 = _pct(latencies, 0.50), _pct(latencies, 0.99)
        figures[name] = (p50, p99)
        print(
            f"  {name:16} {len(latencies):7,} requests  {len(latencies) / total:7,.0f}/s  "
            f"errors {len(errors)}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"mean {statistics.fmean(latencies) * 1000:6.1f} ms"
        )
    (p50_plain, p99_plain), (p50_health, p99_health) = (
        figures["plain view"],
        figures["railops/health/"],
    )
    print(
        f"  ratio railops/health/ / plain: p50 {p50_health / p50_plain:.2f}x, "
        f"p99 {p99_health / p99_plain:.2f}x"
    )
    return 0 if not any(errors for _, errors in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
