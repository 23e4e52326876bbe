"""Server-rendered SVG line charts for the dashboard: no script, no font, no inline style, so a
page with charts works under a strict Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
HEIGHT = 180
PAD_LEFT = 70
PAD_RIGHT = 12
PAD_TOP = 14
PAD_BOTTOM = 26


def human(value: float, unit: str) -> str:
    if unit == "bytes":
        size = float(value)
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(size) < 1024 or suffix == "TiB":
                return f"{size:,.1f} {suffix}" if suffix != "B" else f"{size:,.0f} B"
            size /= 1024
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def line_chart(
    title: str, unit: str, points: Sequence[tuple[datetime, float]], *, chart_id: str = ""
) -> SafeString:
    """An ``<svg>`` line chart of ``points`` (time, value), oldest first, with its min and max
    values and its time range as axis labels. One point is drawn as a dot."""
    label = escape(title)
    if not points:
        return mark_safe(  # noqa: S308 - every interpolated text is escaped
            f'<svg class="railops-chart" role="img" aria-label="{label}: no data" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%"><text x="{PAD_LEFT}" y="{HEIGHT // 2}">'
            "no samples in this range</text></svg>"
        )
    times = [p[0].timestamp() for p in points]
    values = [p[1] for p in points]
    t0, t1 = min(times), max(times)
    v0, v1 = min(values), max(values)
    if v0 == v1:
        v0, v1 = v0 - 1 if v0 else 0.0, v1 + 1
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(t: float) -> float:
        return PAD_LEFT + (inner_w * (t - t0) / (t1 - t0) if t1 > t0 else inner_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + inner_h * (1 - (v - v0) / (v1 - v0))

    coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=True))
    start = escape(points[0][0].strftime("%Y-%m-%d %H:%M"))
    end = escape(points[-1][0].strftime("%Y-%m-%d %H:%M"))
    shape = (
        f'<polyline fill="none" stroke="#417690" stroke-width="2" points="{coords}"/>'
        if len(points) > 1
        else f'<circle cx="{x(times[0]):.1f}" cy="{y(values[0]):.1f}" r="3" fill="#417690"/>'
    )
    ident = f' id="{escape(chart_id)}"' if chart_id else ""
    base = HEIGHT - PAD_BOTTOM
    return mark_safe(  # noqa: S308 - every interpolated text is escaped
        f'<svg class="railops-chart"{ident} role="img" '
        f'aria-label="{label}, {len(points)} samples" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">'
        f"<title>{label}</title>"
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - PAD_RIGHT}" y2="{base}" '
        'stroke="#999"/>'
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base}" stroke="#999"/>'
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 4}" text-anchor="end" font-size="11">'
        f"{escape(human(v1, unit))}</text>"
        f'<text x="{PAD_LEFT - 6}" y="{base}" text-anchor="end" font-size="11">'
        f"{escape(human(v0, unit))}</text>"
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 8}" font-size="11">{start}</text>'
        f'<text x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 8}" text-anchor="end" font-size="11">'
        f"{end}</text>{shape}</svg>"
    )
