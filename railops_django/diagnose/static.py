"""Static files probes: STATIC_ROOT, the manifest, template references, WhiteNoise."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings

from ..report import Finding, Severity
from .runner import Context

WHITENOISE = "whitenoise.middleware.WhiteNoiseMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"
_STATIC_TAG = re.compile(r"""{%\s*static\s+(['"])(?P<path>[^'"]+)\1""")
MAX_TEMPLATE_FILES = 2000
TEMPLATE_SUFFIXES = (".html", ".txt", ".xml", ".htm", "")


def static_root() -> list[Finding]:
    if not apps.is_installed("django.contrib.staticfiles") or settings.DEBUG:
        return []
    if not getattr(settings, "STATIC_ROOT", None):
        return [
            Finding(
                id="diagnose.static.static_root",
                severity=Severity.WARNING,
                title="STATIC_ROOT is not set",
                detail="collectstatic refuses to run and, with DEBUG off, nothing serves "
                "your CSS and JavaScript.",
                fix="Set STATIC_ROOT = BASE_DIR / 'staticfiles' and run collectstatic at "
                "build or pre-deploy time.",
                rank=30,
            )
        ]
    if not Path(settings.STATIC_ROOT).is_dir():
        return [
            Finding(
                id="diagnose.static.not_collected",
                severity=Severity.INFO,
                title=f"STATIC_ROOT {settings.STATIC_ROOT} does not exist here",
                detail="collectstatic has not run in this container; fine locally, but on "
                "Railway static files would 404.",
                fix="Run 'python manage.py collectstatic --noinput' in the build or pre-deploy "
                "command (railway_deploy does).",
                rank=85,
            )
        ]
    return []


def whitenoise() -> list[Finding]:
    if settings.DEBUG or not apps.is_installed("django.contrib.staticfiles"):
        return []
    middleware = list(settings.MIDDLEWARE)
    if WHITENOISE not in middleware:
        return [
            Finding(
                id="diagnose.static.whitenoise_missing",
                severity=Severity.WARNING,
                title="WhiteNoise is not in MIDDLEWARE while DEBUG is off",
                detail="Django does not serve static files with DEBUG off; on Railway "
                "nothing else does unless you set up a CDN or bucket.",
                fix="pip install whitenoise and add 'whitenoise.middleware.WhiteNoiseMiddleware' "
                "right after SecurityMiddleware.",
                rank=35,
            )
        ]
    position = middleware.index(WHITENOISE)
    expected = middleware.index(SECURITY) + 1 if SECURITY in middleware else 0
    if position != expected:
        return [
            Finding(
                id="diagnose.static.whitenoise_order",
                severity=Severity.WARNING,
                title="WhiteNoiseMiddleware is not directly after SecurityMiddleware",
                detail=f"It is at position {position}; middleware above it (sessions, "
                "authentication...) runs for every static file, or answers first.",
                fix="Move 'whitenoise.middleware.WhiteNoiseMiddleware' right after "
                "'django.middleware.security.SecurityMiddleware'.",
                rank=50,
            )
        ]
    return []


def _manifest_storage() -> Any:
    from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

    return staticfiles_storage if isinstance(staticfiles_storage, ManifestFilesMixin) else None


def project_template_dirs() -> list[Path]:
    """Template directories of the project: DIRS, and app dirs outside site-packages and, when
    the settings define ``BASE_DIR``, inside it (an app installed editable from elsewhere, such
    as railops itself, is not the project's code)."""
    from django.conf import settings
    from django.template import engines
    from django.template.backends.django import DjangoTemplates

    prefixes = {sys.prefix, sys.base_prefix}
    base = getattr(settings, "BASE_DIR", None)
    base_dir = None
    if isinstance(base, str | Path) and Path(base).is_dir():
        base_dir = Path(base).resolve()
    dirs: list[Path] = []
    for engine in engines.all():
        if not isinstance(engine, DjangoTemplates):
            continue
        configured = {Path(d) for d in engine.engine.dirs}  # DIRS: the project's by definition
        for d in engine.template_dirs:
            path = Path(d)
            if "site-packages" in path.parts or any(str(path).startswith(p) for p in prefixes):
                continue
            outside = base_dir is not None and not path.resolve().is_relative_to(base_dir)
            if outside and path not in configured:
                continue
            if path.is_dir() and path not in dirs:
                dirs.append(path)
    return dirs


def template_static_paths() -> dict[str, str]:
    """static path -> 'template:line' of its first use, from every project template."""
    found: dict[str, str] = {}
    files = 0
    for directory in project_template_dirs():
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path.suffix not in TEMPLATE_SUFFIXES:
                continue
            files += 1
            if files > MAX_TEMPLATE_FILES:
                return found
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for match in _STATIC_TAG.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.setdefault(match.group("path"), f"{path}:{line}")
    return found


def _unreadable(exc: ValueError) -> Finding:
    return Finding(
        id="diagnose.static.manifest_unreadable",
        severity=Severity.CRITICAL,
        title="The static files manifest cannot be read",
        detail=f"{exc}: the storage fails when it is created, so every page is a 500.",
        fix="Re-run 'python manage.py collectstatic --noinput --clear'.",
        rank=11,
    )


def manifest(ctx: Context) -> list[Finding]:
    """Manifest storage without its manifest, and template paths absent from it."""
    if not apps.is_installed("django.contrib.staticfiles"):
        return []
    try:
        storage = _manifest_storage()
    except ValueError as exc:  # the storage loads its manifest when it is created
        return [_unreadable(exc)]
    used = template_static_paths()
    if storage is None:
        from django.contrib.staticfiles import finders

        missing = {p: where for p, where in used.items() if not finders.find(p)}
        return [
            Finding(
                id="diagnose.static.template_path_missing",
                severity=Severity.WARNING,
                title=f"{{% static '{p}' %}} names a file that does not exist",
                detail=f"Used at {where}; no static directory has it, so the page links to a 404.",
                fix=f"Add the file to a static directory, or fix the path in {where}.",
                rank=45,
                data={"path": p, "template": where},
            )
            for p, where in sorted(missing.items())
        ]
    manifest_storage = getattr(storage, "manifest_storage", storage)
    name = storage.manifest_name
    if not manifest_storage.exists(name):
        return [
            Finding(
                id="diagnose.static.manifest_missing",
                severity=Severity.CRITICAL,
                title=f"The static files manifest {name} is missing",
                detail=f"STORAGES['staticfiles'] uses manifest storage but "
                f"{manifest_storage.path(name)} does not exist: every {{% static %}} raises "
                "ValueError, so every page that uses it is a 500.",
                fix="Run 'python manage.py collectstatic --noinput' during the build (Railpack "
                "does when STATIC_ROOT is set) or in the pre-deploy command.",
                rank=11,
            )
        ]
    try:
        loaded = storage.load_manifest()
    except ValueError as exc:
        return [_unreadable(exc)]
    hashed = loaded[0] if isinstance(loaded, tuple) else loaded  # Django >= 5.1: (paths, hash)
    missing = {p: where for p, where in used.items() if p not in hashed}
    return [
        Finding(
            id="diagnose.static.manifest_entry_missing",
            severity=Severity.CRITICAL,
            title=f"{{% static '{p}' %}} is not in the static files manifest",
            detail=f'Used at {where}: rendering it raises "Missing staticfiles manifest '
            f"entry for '{p}'\", a 500.",
            fix=f"Add the file and re-run collectstatic, or fix the path in {where}.",
            rank=11,
            data={"path": p, "template": where},
        )
        for p, where in sorted(missing.items())
    ]


def _work_tree(path: Path) -> Path | None:
    """The git work tree that holds ``path`` (a ``.git`` directory or file above it), or None."""
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _ignored_by_git(root: Path, directory: Path) -> bool:
    """True when git would not add a dump written in ``directory``."""
    own = directory / ".gitignore"
    try:
        if "*" in (line.strip() for line in own.read_text(encoding="utf-8").splitlines()):
            return True
    except OSError:
        pass
    import shutil
    import subprocess

    from ..child_env import child_env

    if shutil.which("git") is None:
        return False
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "-q", str(directory / "x.manifest.json")],
            capture_output=True,
            timeout=5,
            check=False,
            env=child_env(),
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def backup_dir_in_git() -> list[Finding]:
    """BACKUP_DIR inside the project's git work tree, where ``git add -A`` commits the dumps."""
    from .. import conf
    from ..report import CannotRun

    try:
        directory = Path(conf.get("BACKUP_DIR")).resolve()
    except (CannotRun, OSError):
        return []  # a bad setting is the settings probes' finding
    root = _work_tree(directory)
    if root is None or _ignored_by_git(root, directory):
        return []
    return [
        Finding(
            id="diagnose.static.backup_dir_in_git",
            severity=Severity.WARNING,
            title=f"BACKUP_DIR {directory} is inside the git work tree {root}",
            detail="Dumps hold the whole database: 'git add -A' would commit them, and "
            "railway_deploy counts them as uncommitted changes.",
            fix=f"echo '*' > {directory / '.gitignore'} (or point RAILOPS_BACKUP_DIR outside "
            "the project, on Railway at a volume).",
            rank=40,
            data={"backup_dir": str(directory), "work_tree": str(root)},
        )
    ]
