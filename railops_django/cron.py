"""Five-field cron expressions (UTC), for ``BACKUP_SCHEDULE``.

On its own, importing only the report's ``CannotRun``: the settings check (``conf``) parses the
schedule with it, and the backup daemon runs on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .report import CannotRun

_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part or part.strip("0123456789*-/") or part.count("/") > 1:
            raise ValueError(f"{part!r} is not a number, a range, * or a /step")
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(body)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


_NEVER = "never fires: check the day and month fields"


def _parse(expression: str) -> list[set[int]]:
    """The five fields' values; ValueError saying what is wrong."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(
            "is not a 5-field cron expression: use e.g. '0 3 * * *' (daily at 03:00 UTC)"
        )
    try:
        return [_field(p, lo, hi) for p, (lo, hi) in zip(parts, _FIELDS, strict=True)]
    except ValueError as exc:
        raise ValueError(f"has a bad field: {exc}") from None


class Cron:
    """A five-field cron expression (UTC): minute hour day-of-month month day-of-week."""

    def __init__(self, expression: str) -> None:
        try:
            fields = _parse(expression)
        except ValueError as exc:
            raise CannotRun(f"BACKUP_SCHEDULE {expression!r} {exc}") from None
        parts = expression.split()
        self.minutes, self.hours, self.days, self.months, dows = fields
        self.dows = {d % 7 for d in dows}
        self.any_day, self.any_dow = parts[2] == "*", parts[4] == "*"

    def _day_matches(self, when: datetime) -> bool:
        dom = when.day in self.days
        dow = (when.weekday() + 1) % 7 in self.dows  # cron: 0 = Sunday
        if self.any_day or self.any_dow:
            return dom and dow
        return dom or dow

    def matches(self, when: datetime) -> bool:
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.month in self.months
            and self._day_matches(when)
        )

    def next_after(self, when: datetime) -> datetime:
        moment = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = moment + timedelta(days=366 * 4)
        while moment < limit:
            if moment.month not in self.months or not self._day_matches(moment):
                moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if self.matches(moment):
                return moment
            moment += timedelta(minutes=1)
        raise CannotRun(f"BACKUP_SCHEDULE {_NEVER}")


def problem(expression: object) -> str | None:
    """Why ``expression`` is not a schedule that fires, or None (a settings validator)."""
    try:
        _parse(str(expression))
        Cron(str(expression)).next_after(datetime(2000, 1, 1))
    except ValueError as exc:
        return str(exc)
    except CannotRun:
        return _NEVER
    return None
