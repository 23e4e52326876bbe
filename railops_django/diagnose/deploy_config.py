"""What Railway will run: the start command and the healthcheck path, from the project's files.

Read from ``railway.json``, ``railway.toml`` (Railway's config-as-code) or the ``Procfile``'s
``web:`` line, in that order of precedence, looked up in the project's ``BASE_DIR`` and the
working directory. Pure file reads: no Django settings needed, so ``python -m railops_django
diagnose`` can use it when the settings module does not import.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DeployConfig:
    start_command: str = ""
    start_source: str = ""  # the file the start command came from
    healthcheck_path: str = ""
    healthcheck_source: str = ""


def candidate_dirs(base_dir: Path | str | None = None) -> list[Path]:
    dirs: list[Path] = []
    for d in (base_dir, os.getcwd()):
        if d is None:
            continue
        path = Path(d).resolve()
        if path not in dirs:
            dirs.append(path)
    return dirs


def _railway_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    deploy = data.get("deploy") if isinstance(data, dict) else None
    return deploy if isinstance(deploy, dict) else {}


def _railway_toml(path: Path) -> dict[str, Any]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    deploy = data.get("deploy")
    return deploy if isinstance(deploy, dict) else {}


def _procfile_web(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == "web":
            return command.strip()
    return ""


def read(base_dir: Path | str | None = None) -> DeployConfig:
    """The first start command and healthcheck path found; empty strings when none is."""
    start, start_src, health, health_src = "", "", "", ""
    for directory in candidate_dirs(base_dir):
        for name, reader in (("railway.json", _railway_json), ("railway.toml", _railway_toml)):
            path = directory / name
            if not path.is_file():
                continue
            deploy = reader(path)
            command = deploy.get("startCommand")
            if isinstance(command, list):
                command = " ".join(str(c) for c in command)
            if command and not start:
                start, start_src = str(command), str(path)
            if deploy.get("healthcheckPath") and not health:
                health, health_src = str(deploy["healthcheckPath"]), str(path)
        procfile = directory / "Procfile"
        if not start and procfile.is_file():
            command = _procfile_web(procfile)
            if command:
                start, start_src = command, str(procfile)
        if start or health:
            break
    return DeployConfig(start, start_src, health, health_src)


_WORKERS = re.compile(r"(?:--workers|-w)(?:=|\s+)(\d+)")
_THREADS = re.compile(r"--threads(?:=|\s+)(\d+)")


_CONF_WORKERS = re.compile(r"^\s*workers\s*=\s*(\d+)", re.M)
_CONF_THREADS = re.compile(r"^\s*threads\s*=\s*(\d+)", re.M)


def gunicorn_concurrency(
    start_command: str,
    environ: dict[str, str] | None = None,
    base_dir: Path | str | None = None,
) -> dict[str, Any]:
    """Workers and threads per replica, in gunicorn's order of precedence: the command line,
    then GUNICORN_CMD_ARGS, then gunicorn.conf.py, then WEB_CONCURRENCY (workers only)."""
    env = dict(os.environ) if environ is None else environ
    workers = threads = None
    source = "gunicorn default"
    for directory in candidate_dirs(base_dir) if base_dir is not None else []:
        conf_file = directory / "gunicorn.conf.py"
        if conf_file.is_file():
            text = conf_file.read_text(encoding="utf-8", errors="replace")
            w, t = _CONF_WORKERS.search(text), _CONF_THREADS.search(text)
            if w:
                workers, source = int(w.group(1)), "gunicorn.conf.py"
            if t:
                threads = int(t.group(1))
            break
    for text, label in (
        (env.get("GUNICORN_CMD_ARGS", ""), "GUNICORN_CMD_ARGS"),
        (start_command, "start command"),
    ):
        w, t = _WORKERS.search(text), _THREADS.search(text)
        if w:
            workers, source = int(w.group(1)), label
        if t:
            threads = int(t.group(1))
    if workers is None and env.get("WEB_CONCURRENCY", "").isdigit():
        workers, source = int(env["WEB_CONCURRENCY"]), "WEB_CONCURRENCY"
    return {"workers": workers or 1, "threads": threads or 1, "source": source}


def split(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()
