from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from railops_django import redact, render
from railops_django.report import Report, Severity
from tests.utils import ROOT


def _report() -> Report:
    report = Report("demo")
    report.add("demo.ok", Severity.OK, "database reachable")
    report.add("demo.warn", Severity.WARNING, "DEBUG is on", fix="set DEBUG=False", rank=5)
    report.add(
        "demo.crit",
        Severity.CRITICAL,
        "ALLOWED_HOSTS lacks the domain",
        detail="Host x.up.railway.app is rejected",
        fix="add it to ALLOWED_HOSTS",
        rank=9,
    )
    report.extras["tables"] = [{"name": "shop_product", "rows": 3}]
    return report


def test_text__no_colour_by_default_most_severe_first_each_with_fix():
    out = render.render(_report(), "text")
    assert "\x1b[" not in out
    assert out.splitlines()[0].startswith("demo: CRITICAL (1 critical, 1 warning, 1 ok)")
    assert (
        out.index("ALLOWED_HOSTS lacks")
        < out.index("DEBUG is on")
        < out.index("database reachable")
    )
    assert " 1. CRITICAL" in out and " 2. WARNING" in out
    assert "fix: add it to ALLOWED_HOSTS" in out and "fix: set DEBUG=False" in out
    assert "shop_product" in out


def test_text__long_nested_extras__one_line_each_or_a_count_never_a_wall_of_json():
    report = Report("demo")
    report.add("demo.ok", Severity.OK, "fine")
    commands = [f"python manage.py migrate app{i} zero" for i in range(6)]
    reverse_sql = {
        f"app{i}.0001_initial": ["-- Create model X", 'DROP TABLE "x";'] for i in range(9)
    }
    report.extras["rollback_plan"] = {
        "all_reversible": True,
        "targets": {f"app{i}": "zero" for i in range(12)},
        "commands": commands,
        "reverse_sql": reverse_sql,
    }
    lines = render.render(report, "text").splitlines()
    assert "  all_reversible: True" in lines
    assert "    app11: zero" in lines
    assert all(f"    - {command}" in lines for command in commands)
    assert "  reverse_sql: 9 entries (in full with --format json)" in lines
    assert 'DROP TABLE "x"' not in "\n".join(lines)
    data = json.loads(render.render(report, "json"))
    assert data["rollback_plan"]["reverse_sql"] == reverse_sql


def test_text__colour_when_asked():
    assert "\x1b[1;31m" in render.render(_report(), "text", color=True)


def test_json__one_object_with_contract():
    data = json.loads(render.render(_report(), "json"))
    assert data["command"] == "demo" and data["status"] == "critical" and data["exit_code"] == 2
    assert [f["id"] for f in data["findings"]] == ["demo.crit", "demo.warn", "demo.ok"]
    assert data["tables"] == [{"name": "shop_product", "rows": 3}]


def test_write_report_file__markdown_and_json_are_private(tmp_path):
    md, js = tmp_path / "r.md", tmp_path / "sub" / "r.json"
    render.write_report_file(_report(), md)
    render.write_report_file(_report(), js)
    assert md.read_text().startswith("# demo: critical")
    assert "| 1 | critical | `demo.crit` |" in md.read_text()
    assert json.loads(js.read_text())["command"] == "demo"
    for path in (md, js):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("**/.*.tmp"))


class _Tty:
    def __init__(self, tty: bool):
        self.chunks: list[str] = []
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def write(self, s: str) -> None:
        self.chunks.append(s)

    def flush(self) -> None:
        pass


def test_progress__silent_off_a_tty_and_shown_on_one():
    quiet, loud = _Tty(False), _Tty(True)
    for stream in (quiet, loud):
        progress = render.Progress(stream)
        progress._last = -1.0
        progress.bytes(5 * 1_048_576, "dump")
        progress.done()
    assert quiet.chunks == []
    assert "5.0 MiB" in "".join(loud.chunks)


# --- Masking on values, before serialisation -------------------------------------------------

_MARK = "§§"  # planted secrets start and end with it; ordinary text never holds it
_PIECES = [
    "token", "password", "key", "secret", "api_key", "STRIPE_API_KEY", "wagtailcore.0098_apitoken",
    'os.environ["X"]', '"', "'", "\\", "[", "]", "{", "}", "(", ")", ":", "=", ",", "/", ".", "_",
    "-", " ", "\n", "\t", "é", "Ω", "密码", "пароль", "😀", "x", "Z", "0", "|", "`", "#", "*",
]  # fmt: skip
# No "?", "&", ";" or "@": ordinary text never takes the shape of a URL password or a
# query-string secret, so it must come back exactly.
_PLAIN = st.lists(st.sampled_from(_PIECES), max_size=8).map("".join)
_SEVERITIES = st.sampled_from(list(Severity))


@st.composite
def _masked_pair(draw: st.DrawFn, secrets: list[str]) -> tuple[str, str]:
    """(a string, what it must become once masked)."""
    if draw(st.booleans()):
        text = draw(_PLAIN)
        return text, text
    head, tail = draw(_PLAIN), draw(_PLAIN)
    return head + draw(st.sampled_from(secrets)) + tail, head + redact.MASK + tail


def _nested(secrets: list[str]) -> st.SearchStrategy[tuple[Any, Any]]:
    same = (
        st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False, allow_infinity=False)
    )
    leaves = _masked_pair(secrets) | same.map(lambda v: (v, v))

    def containers(inner: st.SearchStrategy[tuple[Any, Any]]) -> st.SearchStrategy[Any]:
        lists = st.lists(inner, max_size=4).map(
            lambda items: ([a for a, _ in items], [b for _, b in items])
        )
        dicts = st.lists(st.tuples(_masked_pair(secrets), inner), max_size=4).map(_pair_dicts)
        return lists | dicts

    return st.recursive(leaves, containers, max_leaves=12)


def _pair_dicts(items: list[tuple[tuple[str, str], tuple[Any, Any]]]) -> tuple[dict, dict]:
    original: dict[str, tuple[str, Any, Any]] = {}
    for (key, masked_key), (value, masked_value) in items:
        original[key] = (masked_key, value, masked_value)
    expected = {}
    for masked_key, _, masked_value in original.values():  # masking keeps the first key's place
        expected[masked_key] = masked_value
    return {k: v for k, (_, v, _) in original.items()}, expected


@st.composite
def _planted_reports(draw: st.DrawFn) -> tuple[Report, dict[str, Any], list[str]]:
    """A random report, the data its rendering must show, and the secrets it must not."""
    secrets = draw(
        st.lists(
            st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4).map(
                lambda p: _MARK + "".join(p) + _MARK
            ),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    pair, nested = _masked_pair(secrets), _nested(secrets)
    command, masked_command = draw(pair)
    report = Report(command)
    expected_findings = []
    for _ in range(draw(st.integers(0, 4))):
        fields = [draw(pair) for _ in range(4)]  # id, title, detail, fix
        severity, rank = draw(_SEVERITIES), draw(st.integers(0, 99))
        data, masked_data = draw(st.dictionaries(st.just("value"), nested, max_size=1).map(
            lambda d: ({k: a for k, (a, _) in d.items()}, {k: b for k, (_, b) in d.items()})
        ))  # fmt: skip
        report.add(fields[0][0], severity, fields[1][0], fields[2][0], fields[3][0], rank, **data)
        shown = dict(zip(("id", "title", "detail", "fix"), (b for _, b in fields), strict=True))
        finding = {**shown, "severity": severity.label}
        if masked_data:
            finding["data"] = masked_data
        expected_findings.append((severity, rank, finding))
    extras, masked_extras = draw(
        st.lists(st.tuples(pair.filter(lambda p: p[0] not in _CONTRACT), nested), max_size=4).map(
            _pair_dicts
        )
    )
    report.extras.update(extras)
    metrics, masked_metrics = [], []
    for _ in range(draw(st.integers(0, 2))):
        labels, masked_labels = draw(st.lists(st.tuples(pair, pair), max_size=3).map(_pair_dicts))
        value = draw(st.floats(allow_nan=False, allow_infinity=False, width=32))
        metrics.append({"name": "railops_demo", "value": value, "labels": labels})
        masked_metrics.append({"name": "railops_demo", "value": value, "labels": masked_labels})
    if metrics:
        report.extras["metrics"] = metrics
        masked_extras["metrics"] = masked_metrics
    expected_findings.sort(key=lambda t: (-t[0], t[1], t[2]["id"]))
    expected = {
        "command": masked_command,
        "findings": [f for _, _, f in expected_findings],
        "extras": masked_extras,
    }
    return report, expected, secrets


_CONTRACT = {"command", "status", "exit_code", "duration_s", "findings", "metrics"}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [*_strings(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _strict_json(out: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(out, parse_constant=refuse)


def _assert_shown_in_text(out: str, expected: dict[str, Any]) -> None:
    assert f"{expected['command']}: " in out
    for f in expected["findings"]:
        assert f"  {f['title']}  [{f['id']}]" in out
        for line in f["detail"].splitlines():
            assert line in out
        if f["severity"] != "ok" and f["fix"]:
            for line in ("fix: " + f["fix"]).splitlines():
                assert line in out
    for name, value in expected["extras"].items():
        title = name.replace("_", " ")
        if isinstance(value, str | int) and not isinstance(value, bool):
            assert f"{title}: {value}" in out
        elif isinstance(value, dict) and value:
            assert f"{title}:" in out
            for key in value:
                assert f"  {key}: " in out or f"  {key}:\n" in out


@settings(max_examples=150, deadline=None)
@given(case=_planted_reports())
def test_property__every_format__valid_names_and_values_kept_planted_secrets_gone(case):
    report, expected, secrets = case
    planted_env = {f"PLANTED_{i}_API_TOKEN": s for i, s in enumerate(secrets) if i % 2 == 0}
    planted_settings = {f"PLANTED_{i}_SECRET": s for i, s in enumerate(secrets) if i % 2 == 1}
    with mock.patch.dict(os.environ, planted_env), override_settings(**planted_settings):
        outputs = {fmt: render.render(report, fmt) for fmt in ("text", "json", "openmetrics")}
        outputs["markdown"] = render.markdown(report)

    data = _strict_json(outputs["json"])
    assert data["command"] == expected["command"]
    assert data["findings"] == expected["findings"]
    for name, value in expected["extras"].items():
        assert data[name] == value
    _assert_shown_in_text(outputs["text"], expected)
    for f in expected["findings"]:
        assert f"`{f['id']}`".replace("|", "\\|").replace("\n", " ") in outputs["markdown"]
        if f["detail"]:
            assert f["detail"] in outputs["markdown"]
    assert f'command="{render._om_label(expected["command"])}"' in outputs["openmetrics"]
    for row in expected["extras"].get("metrics", []):
        for key, value in row["labels"].items():
            assert f'{key}="{render._om_label(value)}"' in outputs["openmetrics"]

    for secret in secrets:
        forms = {secret, json.dumps(secret, ensure_ascii=False)[1:-1], render._om_label(secret)}
        for fmt, out in outputs.items():
            assert not any(form in out for form in forms), f"planted secret in {fmt}"
        assert not any(secret in s for s in _strings(data))


def test_json__nan_and_infinity__written_as_null_so_the_json_is_strict():
    report = Report("demo")
    report.add("demo.m", Severity.INFO, "metric", value=math.nan)
    report.extras["thresholds"] = {"warning": math.inf, "critical": -math.inf, "ok": 1.5}
    data = _strict_json(render.render(report, "json"))
    assert data["findings"][0]["data"] == {"value": None}
    assert data["thresholds"] == {"warning": None, "critical": None, "ok": 1.5}


def test_json__wagtail_migration_names_in_a_safe_migrate_extra__valid_and_unchanged():
    plan = {
        "wagtailcore.0098_apitoken": ['CREATE TABLE "wagtailcore_apitoken" ("key" varchar(40));'],
        "wagtailcore.0092_alter_collectionviewrestriction_password_and_more": [],
        "authtoken.0003_tokenproxy": ["-- no SQL"],
    }
    report = Report("safe_migrate")
    report.add(
        "migrate.pending",
        Severity.INFO,
        "3 migrations to apply",
        migration="wagtailcore.0098_apitoken",
    )
    report.extras["plan"] = [{"migration": name, "sql": sql} for name, sql in plan.items()]
    report.extras["reverse_sql"] = plan
    report.extras["targets"] = {"authtoken": "0002_auto_20160226_1747", "wagtailcore": "0097_x"}
    data = _strict_json(render.render(report, "json"))
    assert data["reverse_sql"] == plan
    assert data["targets"] == report.extras["targets"]
    assert data["findings"][0]["data"] == {"migration": "wagtailcore.0098_apitoken"}
    text = render.render(report, "text")
    assert (
        "  wagtailcore.0098_apitoken: " in text and "  authtoken: 0002_auto_20160226_1747" in text
    )


def test_rollback_plan_file__migration_names_kept_file_parses(settings, tmp_path, monkeypatch):
    from railops_django.migrate import rollback

    monkeypatch.setenv("PLANNED_API_TOKEN", "Plan-Canary-4242")
    settings.RAILOPS = {"BACKUP_DIR": str(tmp_path)}
    plan = {
        "targets": {"authtoken": "0003_tokenproxy", "wagtailcore": "0097_x"},
        "commands": ["python manage.py migrate wagtailcore 0097_x"],
        "reverse_sql": {"wagtailcore.0098_apitoken": ['DROP TABLE "wagtailcore_apitoken";']},
        "note": "token Plan-Canary-4242 in a value",
    }
    path = rollback.write(plan, "default")
    assert path.parent == tmp_path / "rollback-plans"
    written = _strict_json(path.read_text())
    assert written == {**plan, "note": f"token {redact.MASK} in a value"}


_BROKEN_SETTINGS = {
    "unset_variable": 'import os\nSECRET_KEY = "x" * 50\nSTRIPE_API_KEY = os.environ["STRIPE_API_KEY"]\n',
    "secret_in_message": (
        "import os\n"
        'raise RuntimeError(f"cannot reach {os.environ[\'APP_DATABASE_URL\']}")\n'
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(_BROKEN_SETTINGS))
def test_python_m_diagnose__settings_traceback__one_valid_json_source_line_kept(case, tmp_path):
    (tmp_path / "brokensettings.py").write_text(_BROKEN_SETTINGS[case])
    canary = "Stripe-Canary-Ω-77"
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }
    env.pop("STRIPE_API_KEY", None)
    env.update(
        PYTHONPATH=str(ROOT),
        STRIPE_WEBHOOK_SECRET=canary,
        APP_DATABASE_URL=f"postgres://app:{quote(canary, safe='')}@127.0.0.1:9/x",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "railops_django", "diagnose", "--settings", "brokensettings",
         "--format", "json", "--skip-requests"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    data = _strict_json(proc.stdout)
    details = "\n".join(f["detail"] for f in data["findings"])
    if case == "unset_variable":
        assert "KeyError: 'STRIPE_API_KEY'" in details
        assert '    STRIPE_API_KEY = os.environ["STRIPE_API_KEY"]\n' in details
    else:
        assert f"RuntimeError: cannot reach postgres://app:{redact.MASK}@127.0.0.1:9/x" in details
        assert "raise RuntimeError(f\"cannot reach {os.environ['APP_DATABASE_URL']}\")" in details
    for out in (proc.stdout, proc.stderr):
        assert canary not in out and quote(canary, safe="") not in out


_WAGTAIL_SETTINGS = """
import os
HERE = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = "wagtail-site-secret-key-0123456789abcdef0123456789"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions",
    "django.contrib.messages", "taggit", "modelcluster", "wagtail", "railops_django",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.path.join(HERE, "db.sqlite3")}}
USE_TZ = True
STATIC_URL = "/static/"
ROOT_URLCONF = "wagurls"
RAILOPS = {"BACKUP_DIR": os.path.join(HERE, "backups")}
"""


def test_safe_migrate_dry_run_json__fresh_wagtail_site__parses_with_apitoken_migration(tmp_path):
    pytest.importorskip("wagtail")
    (tmp_path / "wagsite.py").write_text(_WAGTAIL_SETTINGS)
    (tmp_path / "wagurls.py").write_text("urlpatterns = []\n")
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]), DJANGO_SETTINGS_MODULE="wagsite"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "django", "safe_migrate", "--dry-run", "--format", "json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 2), proc.stderr[-2000:]
    data = _strict_json(proc.stdout)
    reverse_sql = data["rollback_plan"]["reverse_sql"]
    # the key survives as it is (a long plan names the sqlmigrate command instead of the SQL)
    (line,) = [ln for ln in reverse_sql["wagtailcore.0098_apitoken"] if "0098_apitoken" in ln]
    assert "wagtailcore 0098_apitoken" in line
    assert "wagtailcore.0092_alter_collectionviewrestriction_password_and_more" in reverse_sql
    assert redact.MASK not in proc.stdout  # nothing secret here, so nothing was masked


def test_openmetrics__braces_inside_a_label_value_kept_and_no_labels_no_braces():
    report = Report("db_health")
    report.extras["metrics"] = [
        {"name": "railops_a", "value": 1, "labels": {"query": "SELECT '{}'::jsonb"}},
        {"name": "railops_b", "value": 2, "labels": {}},
    ]
    lines = render.render(report, "openmetrics").splitlines()
    assert "railops_a{query=\"SELECT '{}'::jsonb\"} 1" in lines
    assert "railops_b 2" in lines
