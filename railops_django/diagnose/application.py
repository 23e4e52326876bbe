"""Application probes: the WSGI import in a fresh process, the start command, the edge replay."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time

from django.conf import settings

from .. import platform, redact
from ..child_env import child_env
from ..report import Finding, Severity
from . import deploy_config, edge
from .runner import Context
from .settings import HEALTHCHECK_HOST, healthcheck_path

WSGI_TIMEOUT = 30.0
# The child reads the project's variables from stdin before it imports anything of the
# project's: os.environ.update() sets them for the settings without putting them in the
# initial environment the kernel keeps (/proc/PID/environ, `ps e`).
_IMPORT = (
    "import importlib, json, os, sys\n"
    "os.environ.update(json.loads(sys.stdin.read()))\n"
    "module, _, attr = sys.argv[1].rpartition('.')\n"
    "getattr(importlib.import_module(module), attr)\n"
)


class WsgiImport:
    """``WSGI_APPLICATION`` imported in a fresh interpreter, as gunicorn does at boot.

    Started early and collected later (``findings()``), so the other probes run while the
    subprocess imports Django.
    """

    def __init__(self, timeout: float = WSGI_TIMEOUT) -> None:
        self.timeout = timeout
        self.started = time.monotonic()
        self.target = getattr(settings, "WSGI_APPLICATION", None)
        # SETTINGS_MODULE is None under override_settings; the environment still names it.
        module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE")
        self.proc: subprocess.Popen[str] | None = None
        if not self.target or not module:
            return
        # The import runs the project's own settings, which read the project's variables
        # (SECRET_KEY, DATABASE_URL...). The child starts with child_env() only, so none of them
        # is in its initial environment (readable in /proc/PID/environ by any process of the
        # user); they go over stdin instead, all but railops's own RAILOPS_* (webhook URL,
        # metrics token), which settings do not need. What the initial environment sets
        # (DJANGO_SETTINGS_MODULE above all) is not handed over again, so it is not overridden.
        env = child_env(
            {
                "DJANGO_SETTINGS_MODULE": module,
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            }
        )
        handed = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("RAILOPS_") and name not in env
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _IMPORT, self.target],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(getattr(settings, "BASE_DIR", None) or os.getcwd()),
        )
        _hand_over(self.proc, json.dumps(handed))

    def findings(self) -> list[Finding]:
        if self.proc is None:
            return []
        remaining = max(self.timeout - (time.monotonic() - self.started), 0.1)
        try:
            _, stderr = self.proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return [
                Finding(
                    id="diagnose.app.wsgi_import",
                    severity=Severity.CRITICAL,
                    title=f"Importing {self.target} did not finish in {self.timeout:g}s",
                    detail="Something at import time waits (a network call, a lock): "
                    "gunicorn's worker times out and Railway answers 502.",
                    fix="Move network calls out of module import (settings, urls, apps.ready).",
                    rank=3,
                    data={"wsgi_application": self.target},
                )
            ]
        if self.proc.returncode == 0:
            return []
        return [_import_failure(str(self.target), stderr, self.proc.returncode)]


def _hand_over(proc: subprocess.Popen[str], payload: str) -> None:
    """Write ``payload`` to the child's stdin and close it, at once.

    The payload is a few kilobytes, within a pipe's buffer, so the write returns at once; a
    larger one waits only for the child's first statement, which reads it all before anything
    else runs. A child that died at once (a broken interpreter) closed the pipe: its exit
    status and stderr are what ``findings()`` reports.
    """
    stdin = proc.stdin
    assert stdin is not None
    # communicate() (Python 3.11) flushes a stdin it still holds, and a closed one raises
    # ValueError: the pipe is ours to close, so the Popen no longer holds it.
    proc.stdin = None
    # close() flushes, so EPIPE may come from there; the pipe is closed even then.
    with contextlib.suppress(BrokenPipeError), stdin:
        stdin.write(payload)


def _import_failure(target: str, stderr: str, returncode: int) -> Finding:
    lines = redact.mask_process_output(stderr).strip().splitlines()
    last = lines[-1] if lines else f"exit status {returncode}"
    missing = re.search(r"No module named '([^']+)'", last)
    fix = (
        f"Add the package that provides {missing.group(1)!r} to requirements.txt (or "
        "pyproject) and redeploy."
        if missing
        else "Fix the error at the last frame shown; it happens at import, so every worker "
        "crashes at boot (Railway shows 502)."
    )
    return Finding(
        id="diagnose.app.wsgi_import",
        severity=Severity.CRITICAL,
        title=f"WSGI_APPLICATION {target} does not import: {last[:160]}",
        detail="\n".join(lines[-12:]),
        fix=fix,
        rank=3,
        data={"wsgi_application": target, "error": last},
    )


def wsgi_import(ctx: Context, timeout: float = WSGI_TIMEOUT) -> list[Finding]:
    """Collect the import started by ``run()`` (or start one now)."""
    handle = ctx.facts.pop("wsgi_import", None)
    if not isinstance(handle, WsgiImport):
        handle = WsgiImport(timeout)
    return handle.findings()


def start_command(ctx: Context) -> list[Finding]:
    config = deploy_config.read(getattr(settings, "BASE_DIR", None))
    return start_command_findings(config)


def start_command_findings(config: deploy_config.DeployConfig) -> list[Finding]:
    command = config.start_command
    if not command:
        return []
    where = config.start_source
    findings: list[Finding] = []
    words = deploy_config.split(command)
    data = {"command": command, "source": where}
    if "runserver" in words and platform.railway().is_production:
        findings.append(
            Finding(
                id="diagnose.start.runserver",
                severity=Severity.WARNING,
                title="The start command runs Django's development server in production",
                detail=f"{where}: {command!r}. runserver is single-process, not hardened, "
                "and serves no static files with DEBUG off.",
                fix="Use gunicorn: 'gunicorn <project>.wsgi --bind 0.0.0.0:$PORT'.",
                rank=30,
                data=data,
            )
        )
    binds_port = "$PORT" in command or "${PORT" in command
    uses_gunicorn = any(w.endswith("gunicorn") for w in words)
    explicit_bind = any(w in ("--bind", "-b") or w.startswith("--bind=") for w in words)
    if not binds_port and not (uses_gunicorn and not explicit_bind):
        findings.append(
            Finding(
                id="diagnose.start.port",
                severity=Severity.CRITICAL,
                title="The start command does not listen on $PORT",
                detail=f"{where}: {command!r}. Railway routes traffic to $PORT; a server on "
                "another port never gets it and the edge answers 502.",
                fix="Bind 0.0.0.0:$PORT, e.g. 'gunicorn <project>.wsgi --bind 0.0.0.0:$PORT'.",
                rank=2,
                data=data,
            )
        )
    elif re.search(r"(127\.0\.0\.1|localhost):\$\{?PORT", command):
        findings.append(
            Finding(
                id="diagnose.start.port",
                severity=Severity.CRITICAL,
                title="The start command listens on localhost only",
                detail=f"{where}: {command!r}. Railway's edge cannot reach 127.0.0.1 inside "
                "the container: 502.",
                fix="Bind 0.0.0.0:$PORT (or [::]:$PORT).",
                rank=2,
                data=data,
            )
        )
    for step in ("migrate", "collectstatic"):
        if re.search(rf"\b{step}\b", command):
            findings.append(
                Finding(
                    id=f"diagnose.start.{step}",
                    severity=Severity.WARNING,
                    title=f"The start command runs {step}",
                    detail=f"{where}: {command!r}. It runs once per replica at every start "
                    "and delays the healthcheck; concurrent replicas race.",
                    fix=f"Move {step} to the pre-deploy command (preDeployCommand: "
                    "'python manage.py railway_deploy') or the build.",
                    rank=60,
                    data=data,
                )
            )
    return findings


def edge_replay(ctx: Context) -> list[Finding]:
    if ctx.skip_requests:
        return []
    findings = [edge.replay("/", alias=ctx.alias)]
    path = healthcheck_path()
    if path:
        findings.append(edge.replay(path, HEALTHCHECK_HOST, alias=ctx.alias, healthcheck=True))
    findings.extend(edge.replay(url, alias=ctx.alias) for url in ctx.urls)
    ctx.facts["edge_replay"] = [
        {k: f.data.get(k, "") for k in ("path", "host", "status", "cause")} for f in findings
    ]
    return findings
