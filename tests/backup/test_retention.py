"""GFS retention: a property test over random timelines, and cleanup on real files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from railops_django import backup
from railops_django.backup import catalog
from railops_django.backup.retention import Item, plan
from tests.utils import run_command

START = datetime(2025, 1, 1, 3, 0, tzinfo=UTC)
RETENTION = {"daily": 7, "weekly": 4, "monthly": 12}


def expected_gfs(items: list[Item], retention: dict[str, int]) -> set[str]:
    """The GFS set, computed independently: group by period, newest period first."""
    keep: set[str] = set()
    periods = {
        "daily": lambda t: t.strftime("%Y-%m-%d"),
        "weekly": lambda t: "{:04d}-W{:02d}".format(*t.isocalendar()[:2]),
        "monthly": lambda t: t.strftime("%Y-%m"),
    }
    for kind, period in periods.items():
        groups: dict[str, list[Item]] = {}
        for item in items:
            groups.setdefault(period(item.created_at), []).append(item)
        for key in sorted(groups, reverse=True)[: retention[kind]]:
            keep.add(max(groups[key], key=lambda i: (i.created_at, i.name)).name)
    return keep


@st.composite
def timelines(draw):
    """A year of daily backups with gaps, some days with two, some verified."""
    items = []
    for day in range(365):
        copies = draw(st.sampled_from([0, 0, 1, 1, 1, 1, 2]))
        for n in range(copies):
            when = START + timedelta(days=day, hours=n * 5, minutes=draw(st.integers(0, 59)))
            verified = draw(st.booleans()) and draw(st.booleans())
            items.append(Item(f"default-{when:%Y%m%dT%H%M%SZ}-daily", when, "daily", verified))
    return items


@settings(max_examples=60, deadline=None)
@given(
    timelines(),
    st.integers(0, 10),
    st.integers(0, 6),
    st.integers(0, 14),
    st.integers(0, 3),
)
def test_retention__random_year_with_gaps__keeps_exactly_gfs_plus_newest_verified(
    items, daily, weekly, monthly, min_good
):
    retention = {"daily": daily, "weekly": weekly, "monthly": monthly}
    now = START + timedelta(days=366)
    decisions = plan(items, now, retention, 30, min_good)
    kept = {d.name for d in decisions if d.keep}
    assert {d.name for d in decisions} == {i.name for i in items}
    expected = expected_gfs(items, retention)
    verified = sorted((i for i in items if i.verified), key=lambda i: i.created_at)
    if verified:
        expected.add(verified[-1].name)
        assert verified[-1].name in kept  # the newest verified backup always survives
    newest_first = sorted(items, key=lambda i: (i.created_at, i.name), reverse=True)
    for item in newest_first:
        if len(expected) >= min_good:
            break
        expected.add(item.name)
    assert kept == expected
    assert len(kept) >= min(min_good, len(items))


def test_retention__special_tiers__kept_for_their_own_days():
    now = START + timedelta(days=100)
    items = [
        Item("a-emergency", now - timedelta(days=29), "emergency"),
        Item("b-predeploy", now - timedelta(days=31), "predeploy"),
        Item("c-daily", now - timedelta(days=1), "daily"),
    ]
    kept = {d.name: d.keep for d in plan(items, now, RETENTION, 30, 1)}
    assert kept == {"a-emergency": True, "b-predeploy": False, "c-daily": True}


def test_retention__nothing_regular__min_good_keeps_newest_special():
    now = START + timedelta(days=100)
    items = [Item("old-emergency", now - timedelta(days=90), "emergency")]
    assert plan(items, now, RETENTION, 30, 1)[0].keep


def _age_backup(name: str, days: int, hour: int) -> None:
    """Say in the manifest that ``name`` was made ``days`` ago, at ``hour`` UTC that day."""
    day = (datetime.now(UTC) - timedelta(days=days)).date()
    found = catalog.find(name)
    found.manifest["created_at"] = datetime(
        day.year, day.month, day.day, hour, tzinfo=UTC
    ).isoformat()
    catalog.save_manifest(found)


def test_cleanup__dry_run_says_would_and_real_run_deletes_by_manifest_time(backup_dir, shop_data):
    names = [backup.create("default", "daily").name for _ in range(3)]
    # names say "today"; the manifests say the first two are from one day 41 days ago (so the
    # same day, week and month, whatever the time now): only the newer of those two stays
    _age_backup(names[0], 41, hour=1)
    _age_backup(names[1], 41, hour=2)
    before = sorted(p.name for p in backup_dir.iterdir())
    out, err, code = run_command("backup", "cleanup", "--dry-run")
    assert code == 0, out + err
    assert f"Would delete {names[0]}" in out
    assert sorted(p.name for p in backup_dir.iterdir()) == before
    out, err, code = run_command("backup", "cleanup")
    assert code == 0, out + err
    assert f"Deleted {names[0]}" in out
    assert [b.name for b in backup.list_backups()] == [names[2], names[1]]
    left = {p.name.split(".")[0] for p in backup_dir.iterdir() if not p.name.startswith(".")}
    assert left == {names[1], names[2]}


def test_retention__backup_dated_in_the_future__kept_and_takes_no_real_ones_place():
    # a month ahead (a wrong clock, an edited manifest): it used to hold the newest daily
    # period, min_good counted it, and the oldest real daily went
    now = START + timedelta(days=10)
    real = [Item(f"default-d{day}-daily", now - timedelta(days=day), "daily") for day in range(7)]
    ahead = Item("default-ahead-daily", now + timedelta(days=30), "daily")
    decisions = {d.name: d for d in plan([*real, ahead], now, {"daily": 7}, 30, 7)}
    assert all(decisions[i.name].keep for i in real)
    assert decisions[ahead.name].keep and "future" in decisions[ahead.name].reason
    assert next(iter(decisions)) == ahead.name  # still listed, newest first
