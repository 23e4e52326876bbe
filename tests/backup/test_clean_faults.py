"""Clean faults, safe defaults, restore that finishes the job (issue 15, points 7-10).

- Children get only PATH, locale and PG* (point 8): a pg_dump/pg_restore shim records the
  environment it was started with; SECRET_KEY and DATABASE_URL are not in it.
- Every directory railops creates is 0700; BACKUP_DIR/rollback-plans/ used to be 0755.
- The default BACKUP_DIR is kept out of git (point 9); railway_diagnose warns about one that
  is not.
- What a killed run left under BACKUP_DIR is removed by the next cleanup (point 7).
- Restore ANALYZEs what it loaded (point 10): db_health used to warn of rows "never" analyzed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from railops_django import private_dirs
from railops_django.diagnose import application, static
from railops_django.migrate import rollback
from tests.backup.conftest import real, wrapper_dir
from tests.utils import run_command

SECRET = "Canary-Secret-Key-91c2"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- children's environment --------------------------------------------------------------------


@pytest.mark.postgres
def test_pg_dump_and_pg_restore__started_with_pg_vars_only__no_secret_key_or_database_url(
    backup_dir, shop_data, tmp_path, monkeypatch, settings
):
    seen = tmp_path / "environ"
    seen.mkdir()
    for binary in ("pg_dump", "pg_restore"):
        bindir = wrapper_dir(
            tmp_path, binary, f'env > "{seen}/{binary}.$$"\nexec {real(binary)} "$@"\n'
        )
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", os.environ.get("DATABASE_URL", "postgres://x"))
    monkeypatch.setenv("RAILOPS_ALERT_WEBHOOK_URL", "https://hooks.example/" + SECRET)
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": "pg_dump"}
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    out, err, code = run_command("backup", "verify", "--latest", "--restore-test")
    assert code == 0, out + err
    files = sorted(seen.iterdir())
    assert {f.name.split(".")[0] for f in files} == {"pg_dump", "pg_restore"}
    for file in files:
        names = {line.split("=", 1)[0] for line in file.read_text().splitlines() if "=" in line}
        assert "SECRET_KEY" not in names and "DATABASE_URL" not in names, file.name
        assert not any(n.startswith("RAILOPS_") for n in names), file.name
        assert SECRET not in file.read_text()
        assert "PATH" in names
    dump_env = next(
        f for f in files if f.name.startswith("pg_dump.") and "PGDATABASE" in f.read_text()
    )
    assert "PGHOST" in dump_env.read_text()


def test_wsgi_import__project_variables_over_stdin_not_env__railops_variables_nowhere(
    monkeypatch,
):
    captured = {}
    handed = []

    class Stdin(io.StringIO):
        def close(self):
            handed.append(json.loads(self.getvalue()))
            super().close()

    class Recorder:
        def __init__(self, argv, **kwargs):
            captured.update(kwargs["env"])
            self.stdin = Stdin()

    monkeypatch.setenv("RAILOPS_ALERT_WEBHOOK_URL", "https://hooks.example/" + SECRET)
    monkeypatch.setenv("RAILOPS_METRICS_TOKEN", SECRET)
    monkeypatch.setenv("SECRET_KEY", "the project's own")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "not.the.settings.in.use")
    monkeypatch.setattr(application.subprocess, "Popen", Recorder)
    application.WsgiImport()
    started_with = sorted(captured)  # names only: a failure prints no values
    assert "DJANGO_SETTINGS_MODULE" in started_with and "PYTHONPATH" in started_with
    assert not [name for name in started_with if name.startswith("RAILOPS_")]
    assert "SECRET_KEY" not in started_with  # readable in /proc/PID/environ
    (variables,) = handed  # written once, then stdin closed
    assert variables["SECRET_KEY"] == "the project's own"  # the settings it imports read it
    assert not [name for name in variables if name.startswith("RAILOPS_")]
    # what the child starts with is not overridden by the hand-over
    assert captured["DJANGO_SETTINGS_MODULE"] != "not.the.settings.in.use"
    assert sorted(set(variables) & set(captured)) == []


# -- private directories -----------------------------------------------------------------------


def test_rollback_plan__backup_dir_and_rollback_plans_created_0700(tmp_path, settings):
    backup_dir = tmp_path / "deep" / "backups"
    settings.RAILOPS = {"BACKUP_DIR": str(backup_dir)}
    path = rollback.write({"targets": {}, "commands": []}, "default")
    assert path.parent == backup_dir / "rollback-plans"
    for directory in (tmp_path / "deep", backup_dir, path.parent):
        assert _mode(directory) == 0o700, directory
    assert _mode(path) == 0o600


def test_every_mkdir_in_the_package__goes_through_private_dir():
    package = Path(private_dirs.__file__).parent
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "private_dirs.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if (".mkdir(" in line or "makedirs(" in line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


# -- kept out of git ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, settings):
    """A project directory that is a git work tree, with the default BACKUP_DIR in it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    settings.BASE_DIR = root
    settings.RAILOPS = {}
    return root


def test_default_backup_dir__created_with_gitignore__git_add_commits_nothing_of_it(
    project, shop_data, monkeypatch
):
    monkeypatch.delenv("RAILOPS_BACKUP_DIR", raising=False)
    monkeypatch.delenv("RAILWAY_VOLUME_MOUNT_PATH", raising=False)
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    backups = project / "backups"
    assert (backups / ".gitignore").read_text().splitlines()[-1] == "*"
    assert _mode(backups) == 0o700
    status = subprocess.run(
        ["git", "-C", str(project), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""
    assert static.backup_dir_in_git() == []


def test_diagnose__backup_dir_in_git_without_gitignore__warns_with_the_fix(project, settings):
    backups = project / "dumps"
    backups.mkdir()
    settings.RAILOPS = {"BACKUP_DIR": str(backups)}
    (finding,) = static.backup_dir_in_git()
    assert finding.id == "diagnose.static.backup_dir_in_git"
    assert str(backups.resolve()) in finding.title and ".gitignore" in finding.fix
    (backups / ".gitignore").write_text("*\n")
    assert static.backup_dir_in_git() == []
    (backups / ".gitignore").unlink()
    (project / ".gitignore").write_text("dumps/\n")
    assert static.backup_dir_in_git() == []


def test_diagnose__backup_dir_outside_any_work_tree__no_finding(tmp_path, settings):
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path / "elsewhere")}
    assert static.backup_dir_in_git() == []


# -- what a killed run left --------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_cleanup__killed_runs_scratch_removed__live_runs_kept(backup_dir, db):
    host = socket.gethostname().replace("-", "_")
    root = backup_dir / private_dirs.SCRATCH
    dead = root / f"native-{host}-{_dead_pid()}-deadbeef"
    live = root / f"native-{host}-{os.getppid()}-0badcafe"
    for directory in (dead, live):
        directory.mkdir(parents=True)
        (directory / "share-1").write_bytes(b"1\tplaintext row\n")
    out, err, code = run_command("backup", "cleanup", "--dry-run")
    assert code == 0 and dead.exists()
    out, err, code = run_command("backup", "cleanup")
    assert code == 0, out + err
    assert not dead.exists() and live.exists()
    assert "leftover(s) of killed runs" in out


def test_sweep__another_hosts_scratch__removed_only_once_a_day_old(backup_dir, settings):
    root = backup_dir / private_dirs.SCRATCH
    other = root / "native-otherhost-12345-00000000"
    other.mkdir(parents=True)
    assert private_dirs.sweep_scratch() == []
    assert private_dirs.sweep_scratch(now=time.time() + 2 * 86400) == [other.name]


# -- restore finishes the job ------------------------------------------------------------------


def _analyzed(table: str) -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if not cursor.fetchone()[0]:
                return False
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = %s", [table])
            return bool(cursor.fetchone()[0])
        cursor.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", [table])
        row = cursor.fetchone()
        return bool(row and row[0])


@pytest.mark.parametrize("engine", ["auto", "native"])
def test_restore__analyzes_what_it_loaded__timed_in_the_report(
    backup_dir, shop_data, settings, engine
):
    if engine == "native" and connection.vendor != "postgresql":
        pytest.skip("the native engine is PostgreSQL's")
    settings.RAILOPS = {**settings.RAILOPS, "BACKUP_ENGINE": engine}
    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    out, err, code = run_command(
        "backup", "restore", "--latest", "--noinput", "--force", "--format", "json"
    )
    assert code == 0, out + err
    import json

    payload = json.loads(out)
    analyze = payload["restore"]["analyze"]
    assert analyze["tables"] >= 3 and analyze["seconds"] >= 0
    assert any(f["id"] == "backup.restore.analyzed" for f in payload["findings"])
    deadline = time.monotonic() + 5  # PostgreSQL's statistics are reported asynchronously
    while not _analyzed("shop_product") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _analyzed("shop_product")


CHILD_ENV_BUILDERS = ("child_env(", "subprocess_env(", "_no_pg_env(")


def test_every_subprocess_call_in_the_package__gets_a_child_env():
    """A new ``subprocess.run``/``Popen`` without ``env=child_env(...)`` would inherit secrets."""
    import ast

    package = Path(private_dirs.__file__).parent
    unguarded = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr not in ("run", "Popen", "call", "check_output", "check_call"):
                continue
            if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "subprocess"):
                continue
            env = next((k.value for k in node.keywords if k.arg == "env"), None)
            # env=child_env(...), one of the two PG wrappers around it, or a local "env" that
            # holds child_env's result (pg_native, diagnose.application)
            source = ast.unparse(env) if env is not None else ""
            built = source == "env" and "env = child_env(" in path.read_text()
            if not (built or any(name in source for name in CHILD_ENV_BUILDERS)):
                unguarded.append(f"{path.relative_to(package)}:{node.lineno}")
    assert unguarded == []


@pytest.mark.postgres
def test_verify_restore_test__after_a_killed_one__drops_its_scratch_database(
    backup_dir, shop_data, tmp_path
):
    import signal

    from tests.native.test_pg_native_faults import SCRATCH_HOLDER, _child_env
    from tests.utils import ROOT

    out, err, code = run_command("backup", "create")
    assert code == 0, out + err
    holder = subprocess.Popen(
        [sys.executable, "-c", SCRATCH_HOLDER],
        cwd=ROOT,
        env=_child_env(connection.settings_dict["NAME"], backup_dir),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        left = holder.stdout.readline().strip()
        assert left.startswith("railops_verify_")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()

    def exists() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [left])
            return cursor.fetchone() is not None

    deadline = time.monotonic() + 10  # until the server has seen the killed session go
    while time.monotonic() < deadline:
        out, err, code = run_command("backup", "verify", "--latest", "--restore-test")
        assert code == 0, out + err
        if not exists():
            break
        time.sleep(0.5)
    assert not exists()
    assert "leftover(s) of killed runs" in out and left in out


def _analyzed_in(schema: str, expected: int) -> int:
    """Tables of ``schema`` with a last_analyze, once ``expected`` show or after 5 s
    (PostgreSQL reports its statistics asynchronously)."""
    deadline = time.monotonic() + 5
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = %s"
                " AND last_analyze IS NOT NULL",
                [schema],
            )
            count = cursor.fetchone()[0]
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


@pytest.fixture
def three_tables(transactional_db, request):
    """Three small tables a, b, c in a schema of their own (named for the test), dropped after."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's ANALYZE")
    schema = f"an_{request.node.name[-40:].lower()}".replace("-", "_")
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
        for name in ("a", "b", "c"):
            cursor.execute(
                f'CREATE TABLE "{schema}".{name} AS SELECT g FROM generate_series(1, 500) g'
            )
    yield schema
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_analyze__every_schema_on_two_sessions__and_a_failure_is_raised(three_tables):
    from railops_django.db.postgres import analyze as pg_analyze

    done = pg_analyze.analyze("default")
    assert done["tables"] >= 3
    assert _analyzed_in(three_tables, 3) == 3
    with pytest.raises(Exception, match="missing"):
        pg_analyze.analyze("default", [(three_tables, "a"), (three_tables, "missing")])


def test_analyze__no_second_session__the_first_analyzes_every_table(three_tables, monkeypatch):
    from railops_django.db.postgres import analyze as pg_analyze

    real_connect, calls = pg_analyze.raw_connection, []

    def second_refused(alias, dbname=None):
        calls.append(alias)
        if len(calls) > 1:
            raise OSError("FATAL: sorry, too many clients already")
        return real_connect(alias, dbname)

    monkeypatch.setattr(pg_analyze, "raw_connection", second_refused)
    done = pg_analyze.analyze("default", [(three_tables, n) for n in ("a", "b", "c")])
    assert len(calls) == 2 and done["tables"] == 3
    assert _analyzed_in(three_tables, 3) == 3
