"""The package as a user gets it: an sdist and a wheel that twine accepts, and a wheel that
installs into a fresh virtual environment and serves a new Django project."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.utils import ROOT


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy, so the build leaves nothing (build/, *.egg-info) in the work tree.
    src = tmp_path_factory.mktemp("src") / "railops-django"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "*.egg-info", "build", "dist", "__pycache__", "*.sqlite3*", "backups"
        ),
    )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_build__sdist_and_wheel__pass_twine_check_and_carry_the_license(dist: Path) -> None:
    wheels = list(dist.glob("*.whl"))
    sdists = list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert any(n.endswith("licenses/LICENSE") for n in names), names
    assert "railops_django/py.typed" in names
    assert "railops_django/migrations/0001_initial.py" in names
    assert not any(n.startswith(("tests/", "example_project/", "bench/")) for n in names)


def test_wheel__installed_in_a_fresh_venv__serves_a_new_project(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    wheel = next(dist.glob("*.whl"))
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    project = tmp_path / "proj"
    project.mkdir()
    admin = env_dir / "bin" / "django-admin"
    subprocess.run([str(admin), "startproject", "site_cfg", str(project)], check=True, timeout=60)
    settings = project / "site_cfg" / "settings.py"
    text = settings.read_text()
    settings.write_text(
        text.replace("INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "railops_django",')
    )
    clean_env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    check = subprocess.run(
        [str(python), "manage.py", "check"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout
    # The commands come with the wheel, not from this checkout.
    helped = subprocess.run(
        [str(python), "manage.py", "help", "railway_diagnose"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
    )
    assert helped.returncode == 0, helped.stderr
    assert "--skip-requests" in helped.stdout
    located = subprocess.run(
        [str(python), "-c", "import railops_django; print(railops_django.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env,
    )
    assert str(env_dir) in located.stdout
